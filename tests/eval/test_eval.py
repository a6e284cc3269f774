"""The public evaluation set, run through the real chat route and the real MCP server.

Every case is one fresh user: its starting tasks go in through the REST API, its messages
through `POST /api/{user_id}/chat` (one conversation), with the offline model the service uses
by default. The API runs in-process (TestClient); the tools run in the real `todo-agent mcp`
process on the same SQLite database. The same cases also run through the in-memory harness.
`pytest tests/eval` ends with the accuracy per category (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.auth import mint_token
from backend.config import get_settings
from backend.db import forget_default_database
from backend.migrate import upgrade
from tests.conftest import TEST_SECRET, configure
from tests.eval.cases import HOLDOUT_FILE, PROBE_FILE, Case, judge, load_cases
from tests.eval.conftest import record
from tests.eval.memory_runner import run_case_in_memory
from tests.support.chat_fixtures import empty_database
from tests.support.processes import running, service_env

CASES = load_cases()
HOLDOUT = load_cases(HOLDOUT_FILE) + load_cases(PROBE_FILE)


def _params() -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else [],
        )
        for case in CASES
    ]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a SQLite file shared with a real MCP process. Each case empties the tables
    first, so its tasks are numbered 1, 2, 3... as the case is written ("complete task 2")."""
    folder = tmp_path_factory.mktemp("eval")
    url = f"sqlite:///{folder / 'todo.db'}"
    upgrade(url)
    with (
        running("mcp", service_env(url, TEST_SECRET, folder / "data"), folder) as mcp,
        pytest.MonkeyPatch.context() as patch,
    ):
        settings = configure(patch, folder, url, MCP_SERVER_URL=mcp.url, CHAT_RATE_LIMIT="0")
        from backend.main import create_app

        assert settings.model_name == "offline"
        with TestClient(create_app(settings)) as client:
            yield client
        forget_default_database()
        get_settings.cache_clear()


def run_case_over_http(client: TestClient, case: Case) -> list[str]:
    empty_database(get_settings().resolved_database_url)
    user = f"eval-{case.id}"
    headers = {"Authorization": f"Bearer {mint_token(user, get_settings())}"}
    seeded: list[int] = []
    created: set[int] = set()
    for task in case.seed():
        response = client.post(
            f"/api/{user}/tasks",
            json={"title": task["title"], "description": task["description"]},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        seeded.append(response.json()["id"])
        if task["completed"]:
            done = client.put(
                f"/api/{user}/tasks/{seeded[-1]}",
                json={"completed": True},
                headers=headers,
            )
            assert done.status_code == 200, done.text
    conversation_id = None
    answer: dict[str, Any] = {}
    for message in case.messages:
        body: dict[str, Any] = {"message": message}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        response = client.post(f"/api/{user}/chat", json=body, headers=headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        conversation_id = answer["conversation_id"]
        for call in answer["tool_calls"]:
            result = call.get("result")
            if call["tool"] == "add_task" and isinstance(result, dict) and "task_id" in result:
                created.add(result["task_id"])
    final = client.get(f"/api/{user}/tasks", headers=headers)
    assert final.status_code == 200, final.text
    calls = [call["tool"] for call in answer.get("tool_calls", [])]
    ids = seeded + sorted(created)
    return judge(case, final.json(), answer.get("response", ""), calls, ids)


@pytest.mark.parametrize("case", _params())
def test_case_through_the_chat_route(api: TestClient, case: Case) -> None:
    problems = run_case_over_http(api, case)
    record("http", case, not problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", _params())
async def test_case_in_memory(case: Case) -> None:
    problems = await run_case_in_memory(case)
    record("memory", case, not problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", HOLDOUT, ids=[case.id for case in HOLDOUT])
async def test_holdout_case_in_memory(case: Case) -> None:
    """The held-out sets (tests/eval/holdout.yaml, probe.yaml), reported on their own."""
    problems = await run_case_in_memory(case)
    record("holdout", case, not problems)
    assert not problems, "\n".join(problems)


def test_the_holdout_set_is_big_enough_and_apart_from_the_public_one() -> None:
    assert len(load_cases(HOLDOUT_FILE)) >= 80
    assert not {case.id for case in HOLDOUT} & {case.id for case in CASES}


def test_the_set_is_big_enough_and_covers_every_category() -> None:
    assert len(CASES) >= 80
    categories = {case.category for case in CASES}
    assert {
        "add",
        "list",
        "complete-id",
        "complete-name",
        "delete",
        "update",
        "bulk",
        "two-actions",
        "references",
        "small-talk",
        "typos",
    } <= categories
