"""The reply of a turn: all the text the model wrote, not only its last message.

A model may write "Let me look that up." before a tool call and the answer after it. Both are
streamed to the client; both belong in the stored reply and in `/chat`'s `response`, so the
streamed deltas always add up to the reply. Text that resumes after a tool call starts a new
paragraph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PARAGRAPH = "\n\n"


@dataclass
class ReplyText:
    parts: list[str] = field(default_factory=list)
    _after_tool: bool = False

    def add(self, emit: Callable[[Any], None]) -> Callable[[Any], None]:
        """`emit`, recording the text deltas (and a paragraph break after a tool call)."""
        from backend.chat.turn import TextDelta, ToolCalled

        def recording_emit(event: Any) -> None:
            if isinstance(event, ToolCalled):
                self._after_tool = True
            elif isinstance(event, TextDelta):
                if self._after_tool and "".join(self.parts).strip():
                    self.parts.append(PARAGRAPH)
                    emit(TextDelta(PARAGRAPH))
                self._after_tool = False
                self.parts.append(event.text)
            emit(event)

        return recording_emit

    def reply(self, final_output: str) -> str:
        streamed = "".join(self.parts)
        return streamed if streamed.strip() else final_output
