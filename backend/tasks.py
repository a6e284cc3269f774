"""The task service: every read and write of tasks goes through here.

Used by the REST routes and by the MCP tools alike. Every function is scoped by `user_id`;
another user's task is indistinguishable from a missing one.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from backend.models import Task, TaskCreate, TaskUpdate, utcnow

TaskStatus = Literal["all", "pending", "completed"]
LIST_LIMIT = 500  # a sane bound on one listing; the UI and the agent never need more at once


class TaskNotFoundError(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


def create_task(*, session: Session, user_id: str, task_in: TaskCreate) -> Task:
    # No re-read after the commit: every column's value is set here in Python (the timestamps'
    # defaults are Python callables) and the id comes back with the INSERT (RETURNING), so the
    # object is complete; the app's sessions keep it loaded (`expire_on_commit=False`).
    task = Task.model_validate(task_in, update={"user_id": user_id})
    session.add(task)
    session.commit()
    return task


def list_tasks(
    *, session: Session, user_id: str, status: TaskStatus = "all", limit: int = LIST_LIMIT
) -> list[Task]:
    query = select(Task).where(Task.user_id == user_id)
    if status == "pending":
        query = query.where(col(Task.completed).is_(False))
    elif status == "completed":
        query = query.where(col(Task.completed).is_(True))
    query = query.order_by(col(Task.id)).limit(max(1, min(limit, LIST_LIMIT)))
    return list(session.exec(query).all())


def page_tasks(
    *,
    session: Session,
    user_id: str,
    status: TaskStatus = "all",
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Task], int]:
    """One page of the user's tasks (oldest first) and how many match in all.

    `search` matches words of the title or description, case-insensitively (all words must
    appear), so a model can find "the milk one" without listing hundreds of tasks.
    """
    query = select(Task).where(Task.user_id == user_id)
    if status == "pending":
        query = query.where(col(Task.completed).is_(False))
    elif status == "completed":
        query = query.where(col(Task.completed).is_(True))
    for word in (search or "").split():
        pattern = "%" + word.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        query = query.where(
            or_(
                func.lower(col(Task.title)).like(pattern),
                func.lower(col(Task.description)).like(pattern),
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(Task.id)).offset(max(0, offset)).limit(max(1, min(limit, LIST_LIMIT)))
    return list(session.exec(page).all()), int(total)


def read_task(*, session: Session, user_id: str, task_id: int) -> Task:
    task = session.exec(select(Task).where(Task.id == task_id, Task.user_id == user_id)).first()
    if task is None:
        raise TaskNotFoundError(task_id)
    return task


def _changed(session: Session, user_id: str, task_id: int, values: dict[str, Any]) -> Task:
    """Apply `values` to one of the user's tasks and return it as stored: one UPDATE ...
    RETURNING (no read before the write). The caller commits."""
    changed: Task | None = session.exec(
        update(Task)
        .where(col(Task.id) == task_id, col(Task.user_id) == user_id)
        .values(**values, updated_at=utcnow())
        .returning(Task)
    ).scalar()
    if changed is None:
        raise TaskNotFoundError(task_id)
    return changed


def update_task(*, session: Session, user_id: str, task_id: int, task_in: TaskUpdate) -> Task:
    changes = task_in.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return read_task(session=session, user_id=user_id, task_id=task_id)
    task = _changed(session, user_id, task_id, changes)
    session.commit()  # no re-read: see create_task
    return task


def set_completed(*, session: Session, user_id: str, task_id: int, completed: bool) -> Task:
    return update_task(
        session=session, user_id=user_id, task_id=task_id, task_in=TaskUpdate(completed=completed)
    )


def toggle_task(*, session: Session, user_id: str, task_id: int) -> Task:
    task = _changed(session, user_id, task_id, {"completed": ~col(Task.completed)})
    session.commit()
    return task


def delete_task(*, session: Session, user_id: str, task_id: int) -> Task:
    """Delete and return the task as it was, so callers can say what was deleted."""
    deleted: Task | None = session.exec(
        delete(Task).where(col(Task.id) == task_id, col(Task.user_id) == user_id).returning(Task)
    ).scalar()
    if deleted is None:
        raise TaskNotFoundError(task_id)
    session.expunge(deleted)  # gone from the database: keep it as it was, never re-read
    session.commit()
    return deleted
