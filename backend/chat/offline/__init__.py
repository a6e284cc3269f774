"""The offline default model: deterministic, rule-based, honest about being so.

`OfflineModel` implements the Agents SDK `Model` interface. It reads the conversation (including
earlier tool calls and their results), decides which MCP tools to call, reads what they return
through the normal agent loop, and writes a short reply naming the tasks concerned.

    transcript.py  input items -> turns        intents.py   text -> intents
    results.py     tool outputs -> tasks       matching.py  "the milk one" -> task
    memory.py      "it", "the first one"       planner.py   the next step of a turn
    replies.py     the wording                 model.py     the Model interface and streaming
"""

from backend.chat.offline.model import OfflineModel

__all__ = ["OfflineModel"]
