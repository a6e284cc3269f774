"""REST task API for the todo frontend (compatible with the Phase II Next.js app).

A missing task (or another user's) raises TaskNotFoundError in the service: a 404 from the
handlers in `backend.api.errors`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from backend import tasks
from backend.deps import CurrentUser, SessionDep
from backend.models import Task, TaskCreate, TaskPublic, TaskUpdate

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=list[TaskPublic])
def list_tasks(
    user_id: CurrentUser, session: SessionDep, status: tasks.TaskStatus = Query("all")
) -> list[Task]:
    return tasks.list_tasks(session=session, user_id=user_id, status=status)


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
def create_task(user_id: CurrentUser, session: SessionDep, task_in: TaskCreate) -> object:
    return tasks.create_task(session=session, user_id=user_id, task_in=task_in)


@router.get("/{task_id}", response_model=TaskPublic)
def read_task(user_id: CurrentUser, session: SessionDep, task_id: TaskId) -> object:
    return tasks.read_task(session=session, user_id=user_id, task_id=task_id)


@router.put("/{task_id}", response_model=TaskPublic)
def update_task(
    user_id: CurrentUser, session: SessionDep, task_id: TaskId, task_in: TaskUpdate
) -> object:
    return tasks.update_task(session=session, user_id=user_id, task_id=task_id, task_in=task_in)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(user_id: CurrentUser, session: SessionDep, task_id: TaskId) -> Response:
    tasks.delete_task(session=session, user_id=user_id, task_id=task_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/{task_id}/complete", response_model=TaskPublic)
def toggle_task(user_id: CurrentUser, session: SessionDep, task_id: TaskId) -> object:
    return tasks.toggle_task(session=session, user_id=user_id, task_id=task_id)
