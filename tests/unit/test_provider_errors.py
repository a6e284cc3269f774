"""Telling provider failures apart from what each provider sends (issue #15, finding 9)."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from backend.chat.provider_errors import classify, is_context_length_error, retry_after_seconds

REQUEST = httpx2.Request("POST", "https://provider.example/v1/chat/completions")
CLASSES = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    402: openai.APIStatusError,
    404: openai.NotFoundError,
    413: openai.APIStatusError,
    429: openai.RateLimitError,
}


def status_error(status: int, body: Any, **headers: str) -> openai.APIStatusError:
    response = httpx2.Response(status, json=body, headers=headers, request=REQUEST)
    return CLASSES[status]("error", response=response, body=body)


def gemini(status: int, message: str, code: str) -> list[dict[str, Any]]:
    return [{"error": {"code": status, "message": message, "status": code}}]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            status_error(429, {"error": {"code": "insufficient_quota", "message": "x"}}),
            "quota_exhausted",
        ),
        (status_error(402, {"error": {"message": "Insufficient credits"}}), "quota_exhausted"),
        (
            status_error(
                429,
                gemini(
                    429,
                    "You exceeded your current quota, please check your plan and billing details.",
                    "RESOURCE_EXHAUSTED",
                ),
            ),
            "quota_exhausted",
        ),
        (
            status_error(
                429,
                gemini(
                    429,
                    "Quota exceeded for metric: GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "RESOURCE_EXHAUSTED",
                ),
            ),
            "rate_limited",
        ),
        (
            status_error(429, {"error": {"message": "Rate limit reached"}}, **{"retry-after": "7"}),
            "rate_limited",
        ),
        (
            status_error(
                400,
                gemini(
                    400,
                    "The input token count (1048600) exceeds the maximum number of tokens allowed (1048576).",
                    "INVALID_ARGUMENT",
                ),
            ),
            "context_too_long",
        ),
        (
            status_error(
                400,
                {
                    "error": {
                        "message": "the request exceeds the available context size, try increasing it",
                        "type": "exceed_context_size_error",
                    }
                },
            ),
            "context_too_long",
        ),
        (
            status_error(
                400,
                {
                    "object": "error",
                    "message": "This model's maximum context length is 4096 tokens.",
                    "code": 400,
                },
            ),
            "context_too_long",
        ),
        (
            status_error(404, {"error": {"message": 'model "x" not found, try pulling it first'}}),
            "model_not_found",
        ),
        (
            status_error(
                401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}
            ),
            "bad_credentials",
        ),
        (status_error(400, {"error": {"message": "Invalid value for tools"}}), "rejected"),
        (openai.APIConnectionError(request=REQUEST), "unreachable"),
        (openai.APITimeoutError(request=REQUEST), "timeout"),
    ],
)
def test_each_failure_is_told_apart(error: BaseException, kind: str) -> None:
    failure = classify(error)
    assert failure is not None and failure.kind == kind


def test_rate_limits_wait_as_long_as_the_provider_says() -> None:
    failure = classify(
        status_error(429, {"error": {"message": "slow down"}}, **{"retry-after": "7"})
    )
    assert failure is not None and failure.retry_after == 7 and "7 seconds" in failure.detail
    assert retry_after_seconds(status_error(429, {}, **{"retry-after-ms": "1500"})) == 1.5


def test_other_errors_are_not_provider_failures() -> None:
    assert classify(ValueError("no")) is None
    assert not is_context_length_error(status_error(400, {"error": {"message": "bad tools"}}))
