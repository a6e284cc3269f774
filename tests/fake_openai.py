"""Moved to `tests.support.fake_openai` (run it as `python -m tests.support.fake_openai`).

This name stays importable, and runnable, for code not yet moved.
"""

from tests.support.fake_openai import (  # noqa: F401
    DIALECTS,
    GARBAGE,
    HANG,
    MALFORMED,
    TRUNCATED,
    Answer,
    Failure,
    FakeOpenAI,
    ToolCall,
    context_length_error,
    error,
    main,
    text,
    tool_call,
    tool_calls,
)

if __name__ == "__main__":
    raise SystemExit(main())
