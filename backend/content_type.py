"""Say why a JSON body was not read when the request did not say it is JSON.

Without `Content-Type: application/json` (curl's `-d` sends `application/x-www-form-urlencoded`,
`fetch` with a string body sends `text/plain`), FastAPI does not parse the body and reports
"Input should be a valid dictionary or object to extract fields from", which does not point at
the header. This turns that one problem into one that does.
"""

from __future__ import annotations

from typing import Any

JSON_REQUIRED = {
    "loc": ["body"],
    "msg": "The body must be JSON: send the header 'Content-Type: application/json'",
    "type": "content_type",
}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def explain_content_type(
    content_type: str | None, problems: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The validation problems, with a body left unread for lack of a JSON content type named."""
    if content_type is not None and _is_json(content_type):
        return problems
    return [
        JSON_REQUIRED
        if problem.get("loc") == ["body"] and problem.get("type") == "model_attributes_type"
        else problem
        for problem in problems
    ]
