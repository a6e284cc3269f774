"""What went wrong with the model provider, for the user (a plain reason) and the log (facts).

Providers say the same things differently; these rules cover what OpenAI, Gemini's
OpenAI-compatible endpoint, Ollama, vLLM, llama.cpp's server, OpenRouter and LiteLLM send:

- context too long: OpenAI `code=context_length_exceeded`; vLLM / OpenRouter "maximum context
  length"; llama.cpp `type=exceed_context_size_error`; Gemini "input token count ... exceeds";
  LiteLLM `ContextWindowExceededError`;
- quota exhausted (adding credit fixes it, waiting does not): OpenAI 429 `insufficient_quota`;
  a 429 naming billing, credit or a daily limit (Gemini says "quota" for per-minute limits
  too: those are rate limits); OpenRouter 402;
- rate limited: any other 429;
- model not found: 404, or `code=model_not_found` (Ollama: "model ... not found, try pulling");
- bad credentials: 401 / 403 (the log names OPENAI_API_KEY);
- unreachable: no HTTP answer at all.

The log line carries the provider's status, error code and type and its request id; never the
key, and never the message text (it can quote the user's own words back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import openai
from agents import ModelBehaviorError

from backend.chat.stream_normaliser import IncompleteStreamError

_CONTEXT_WORDS = re.compile(
    r"context[ _]length|context[ _]window|context size|maximum context|too many tokens|"
    r"input token count|prompt is too long|reduce the length|exceeds? the (?:maximum|available)",
    re.IGNORECASE,
)
# Used up (waiting does not help) ...
_QUOTA_WORDS = re.compile(r"insufficient|billing|credit|plan and|per ?day|daily", re.IGNORECASE)
# ... versus a short window (Gemini says "quota" for both: "...PerMinute...", "per minute").
_SHORT_WINDOW = re.compile(r"per ?minute|per ?second|rate", re.IGNORECASE)


@dataclass(frozen=True)
class ProviderFailure:
    """A failed model call: `detail` for the user, `log_fields` for the operator."""

    kind: str
    status: int
    detail: str
    retry_after: int | None = None
    log_fields: dict[str, Any] = field(default_factory=dict)


def _body_error(exc: openai.APIStatusError) -> dict[str, Any]:
    """The `error` object of a provider's answer, whatever shape it came in."""
    body: Any = exc.body
    if isinstance(body, list) and body:  # Gemini sometimes wraps the error in a list
        body = body[0]
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
    return {}


def _text(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return str(_body_error(exc).get("message") or exc.message or "")
    return str(exc)


def provider_code(exc: BaseException) -> str | None:
    if isinstance(exc, openai.APIStatusError):
        error = _body_error(exc)
        for key in ("code", "status", "type"):
            value = error.get(key)
            if isinstance(value, str) and value:
                return value
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None


def is_context_length_error(exc: BaseException) -> bool:
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 413, 422):
        return False
    error = _body_error(exc)
    markers = f"{error.get('code', '')} {error.get('type', '')} {_text(exc)}"
    return (
        "context_length" in markers
        or "exceed_context" in markers
        or bool(_CONTEXT_WORDS.search(markers))
    )


def retry_after_seconds(exc: BaseException) -> float | None:
    """The provider's Retry-After (seconds, ms, or an HTTP date), if it sent one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def _log_fields(exc: BaseException, setting: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"error_type": type(exc).__name__}
    if isinstance(exc, openai.APIStatusError):
        error = _body_error(exc)
        fields["provider_status"] = exc.status_code
        fields["provider_request_id"] = exc.request_id or exc.response.headers.get("request-id")
        code, kind = error.get("code"), error.get("type") or error.get("status")
        if code is not None:
            fields["provider_error_code"] = str(code)
        if kind is not None:
            fields["provider_error_type"] = str(kind)
    elif isinstance(exc, openai.APIError) and exc.code:
        fields["provider_error_code"] = str(exc.code)
    if setting:
        fields["setting"] = setting
    return fields


def _seconds(value: float | None) -> int | None:
    return None if value is None else max(1, round(value))


def classify(exc: BaseException) -> ProviderFailure | None:
    """The failure, if `exc` came from the model provider; None for anything else."""
    if isinstance(exc, openai.APIStatusError) and exc.status_code in (402, 429):
        code, text = provider_code(exc) or "", _text(exc)
        if (
            exc.status_code == 402
            or code == "insufficient_quota"
            or (_QUOTA_WORDS.search(text) and not _SHORT_WINDOW.search(text))
        ):
            return ProviderFailure(
                "quota_exhausted",
                503,
                "The AI provider's quota for this service is used up; the operator needs to "
                "add credit or raise the limit. Your message was not processed.",
                log_fields=_log_fields(exc, "OPENAI_API_KEY"),
            )
        wait = _seconds(retry_after_seconds(exc)) or 10
        return ProviderFailure(
            "rate_limited",
            503,
            f"The AI provider is rate limiting this service; try again in {wait} seconds.",
            retry_after=wait,
            log_fields=_log_fields(exc),
        )
    if is_context_length_error(exc):
        return ProviderFailure(
            "context_too_long",
            503,
            "This conversation has grown too long for the model, even shortened. "
            "Start a new conversation (your tasks are kept).",
            log_fields=_log_fields(exc, "CONTEXT_TOKENS"),
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderFailure(
            "bad_credentials",
            503,
            "The AI provider rejected this service's credentials; the operator needs to fix "
            "the configuration.",
            log_fields=_log_fields(exc, "OPENAI_API_KEY"),
        )
    if isinstance(exc, openai.NotFoundError) or provider_code(exc) == "model_not_found":
        return ProviderFailure(
            "model_not_found",
            503,
            "The configured model was not found at the AI provider; the operator needs to "
            "check the MODEL setting.",
            log_fields=_log_fields(exc, "MODEL"),
        )
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return ProviderFailure(
            "timeout", 503, "The model did not answer in time", 5, _log_fields(exc)
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderFailure(
            "unreachable",
            503,
            "The model provider could not be reached",
            10,
            _log_fields(exc, "OPENAI_BASE_URL"),
        )
    if isinstance(exc, IncompleteStreamError):
        return ProviderFailure(
            "incomplete", 503, "The model's answer was cut off; try again.", 2, _log_fields(exc)
        )
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return ProviderFailure(
            "provider_error",
            503,
            "The model provider returned an error",
            _seconds(retry_after_seconds(exc)) or 5,
            _log_fields(exc),
        )
    if isinstance(exc, openai.APIStatusError):
        return ProviderFailure(
            "rejected",
            503,
            "The AI provider rejected the request; the operator can find the details in the log.",
            log_fields=_log_fields(exc),
        )
    if isinstance(exc, openai.OpenAIError):
        return ProviderFailure(
            "provider_error", 503, "The model provider returned an error", 5, _log_fields(exc)
        )
    if isinstance(exc, ModelBehaviorError):
        return ProviderFailure(
            "unusable_answer",
            503,
            "The model returned an answer the assistant could not use",
            2,
            _log_fields(exc),
        )
    return None
