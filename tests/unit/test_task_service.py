"""`backend/tasks.py` directly: every function scoped by user, filters, limits and updates."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import Session

from backend import tasks
from backend.models import TaskCreate, TaskUpdate
from backend.tasks import TaskNotFoundError, TaskStatus


def add(session: Session, user_id: str, title: str, description: str = "") -> int:
    task = tasks.create_task(
        session=session, user_id=user_id, task_in=TaskCreate(title=title, description=description)
    )
    assert task.id is not None
    return task.id


def titles(
    session: Session, user_id: str, status: TaskStatus = "all", limit: int | None = None
) -> list[str]:
    bound = tasks.LIST_LIMIT if limit is None else limit
    listed = tasks.list_tasks(session=session, user_id=user_id, status=status, limit=bound)
    return [task.title for task in listed]


def test_create_stores_a_cleaned_pending_task_for_its_owner(session: Session) -> None:
    task = tasks.create_task(
        session=session, user_id="alice", task_in=TaskCreate(title="  Buy milk  ")
    )
    assert task.id is not None
    assert (task.user_id, task.title, task.description, task.completed) == (
        "alice",
        "Buy milk",
        "",
        False,
    )
    assert tasks.read_task(session=session, user_id="alice", task_id=task.id) == task


def test_list_filters_by_status_in_id_order_and_only_the_users_own(session: Session) -> None:
    _, second, _ = (add(session, "alice", title) for title in ("one", "two", "three"))
    add(session, "bob", "bob's")
    tasks.set_completed(session=session, user_id="alice", task_id=second, completed=True)
    assert titles(session, "alice") == ["one", "two", "three"]
    assert titles(session, "alice", status="pending") == ["one", "three"]
    assert titles(session, "alice", status="completed") == ["two"]
    assert titles(session, "bob") == ["bob's"]
    assert titles(session, "carol") == []


def test_list_limit_is_kept_between_one_and_the_bound(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for title in ("one", "two", "three"):
        add(session, "alice", title)
    assert titles(session, "alice", limit=2) == ["one", "two"]
    assert titles(session, "alice", limit=0) == ["one"]
    assert titles(session, "alice", limit=-5) == ["one"]
    monkeypatch.setattr(tasks, "LIST_LIMIT", 2)  # the bound wins over a larger request
    assert titles(session, "alice", limit=1000) == ["one", "two"]


@pytest.mark.parametrize(
    "operation",
    ["read", "update", "complete", "toggle", "delete"],
)
def test_another_users_task_is_not_found_and_stays_unchanged(
    session: Session, operation: str
) -> None:
    task_id = add(session, "alice", "Buy milk", "2 litres")
    calls = {
        "read": lambda: tasks.read_task(session=session, user_id="bob", task_id=task_id),
        "update": lambda: tasks.update_task(
            session=session, user_id="bob", task_id=task_id, task_in=TaskUpdate(title="mine")
        ),
        "complete": lambda: tasks.set_completed(
            session=session, user_id="bob", task_id=task_id, completed=True
        ),
        "toggle": lambda: tasks.toggle_task(session=session, user_id="bob", task_id=task_id),
        "delete": lambda: tasks.delete_task(session=session, user_id="bob", task_id=task_id),
    }
    with pytest.raises(TaskNotFoundError) as raised:
        calls[operation]()
    assert raised.value.task_id == task_id
    session.expire_all()
    task = tasks.read_task(session=session, user_id="alice", task_id=task_id)
    assert (task.title, task.description, task.completed) == ("Buy milk", "2 litres", False)


def test_a_missing_task_is_not_found(session: Session) -> None:
    with pytest.raises(TaskNotFoundError, match="Task 424242 not found"):
        tasks.read_task(session=session, user_id="alice", task_id=424242)


def test_update_changes_only_the_given_fields_and_bumps_updated_at(session: Session) -> None:
    task_id = add(session, "alice", "Buy milk", "2 litres")
    before = tasks.read_task(session=session, user_id="alice", task_id=task_id).updated_at
    updated = tasks.update_task(
        session=session,
        user_id="alice",
        task_id=task_id,
        task_in=TaskUpdate(title="Buy oat milk", description=None),
    )
    assert (updated.title, updated.description, updated.completed) == (
        "Buy oat milk",
        "2 litres",  # None means "leave as it is", not "clear"
        False,
    )
    assert updated.updated_at > before


def test_an_update_without_changes_writes_nothing(session: Session) -> None:
    task_id = add(session, "alice", "Buy milk")
    before = tasks.read_task(session=session, user_id="alice", task_id=task_id).updated_at
    same = tasks.update_task(
        session=session, user_id="alice", task_id=task_id, task_in=TaskUpdate()
    )
    assert (same.title, same.updated_at) == ("Buy milk", before)


def test_toggle_flips_and_set_completed_is_idempotent(session: Session) -> None:
    task_id = add(session, "alice", "Buy milk")
    assert tasks.toggle_task(session=session, user_id="alice", task_id=task_id).completed
    assert not tasks.toggle_task(session=session, user_id="alice", task_id=task_id).completed
    for _ in range(2):
        done = tasks.set_completed(
            session=session, user_id="alice", task_id=task_id, completed=True
        )
        assert done.completed


def test_delete_returns_the_task_as_it_was_and_removes_it(session: Session) -> None:
    task_id = add(session, "alice", "Buy milk")
    other = add(session, "alice", "Call mum")
    deleted = tasks.delete_task(session=session, user_id="alice", task_id=task_id)
    assert (deleted.id, deleted.title) == (task_id, "Buy milk")
    with pytest.raises(TaskNotFoundError):
        tasks.read_task(session=session, user_id="alice", task_id=task_id)
    assert [task.id for task in tasks.list_tasks(session=session, user_id="alice")] == [other]


@pytest.mark.parametrize("session", [True], ids=["autocommit"], indirect=True)
def test_each_change_is_one_statement(session: Session) -> None:
    # As the MCP tools run them (autocommit, and like every session of the app, no re-read after
    # a commit): the write returns the row, no read before it.
    session.expire_on_commit = False
    task_id = add(session, "alice", "Buy milk")
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement.split()[0])

    event.listen(session.get_bind(), "before_cursor_execute", count)
    done = tasks.set_completed(session=session, user_id="alice", task_id=task_id, completed=True)
    assert done.completed
    assert not tasks.toggle_task(session=session, user_id="alice", task_id=task_id).completed
    renamed = tasks.update_task(
        session=session, user_id="alice", task_id=task_id, task_in=TaskUpdate(title="Milk")
    )
    assert renamed.title == "Milk"
    deleted = tasks.delete_task(session=session, user_id="alice", task_id=task_id)
    assert (deleted.id, deleted.title) == (task_id, "Milk")
    assert sent == ["UPDATE", "UPDATE", "UPDATE", "DELETE"]
