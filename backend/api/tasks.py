"""REST task API for the todo frontend (compatible with the Phase II Next.js app).

A missing task (or another user's) raises TaskNotFoundError in the service: a 404 from the
handlers in `backend.api.errors`.

The routes are `async` and hand their database work to `backend.dbwork.in_session`: the session
is opened, used and closed on a database thread, and the route gets plain `TaskPublic` models
back, so no connection is held while the response is validated and sent (issue 16).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from sqlmodel import Session

from backend import tasks
from backend.admission import admit_api_request
from backend.dbwork import in_session
from backend.deps import CurrentUser
from backend.models import Task, TaskCreate, TaskPublic, TaskUpdate

router = APIRouter(
    prefix="/api/{user_id}/tasks", tags=["tasks"], dependencies=[Depends(admit_api_request)]
)

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _public(task: Task) -> TaskPublic:
    return TaskPublic.model_validate(task, from_attributes=True)


@router.get("", response_model=list[TaskPublic])
async def list_tasks(
    user_id: CurrentUser, status: tasks.TaskStatus = Query("all")
) -> list[TaskPublic]:
    def work(session: Session) -> list[TaskPublic]:
        found = tasks.list_tasks(session=session, user_id=user_id, status=status)
        return [_public(task) for task in found]

    return await in_session(work)


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
async def create_task(user_id: CurrentUser, task_in: TaskCreate) -> TaskPublic:
    return await in_session(
        lambda session: _public(
            tasks.create_task(session=session, user_id=user_id, task_in=task_in)
        )
    )


@router.get("/{task_id}", response_model=TaskPublic)
async def read_task(user_id: CurrentUser, task_id: TaskId) -> TaskPublic:
    return await in_session(
        lambda session: _public(tasks.read_task(session=session, user_id=user_id, task_id=task_id))
    )


@router.put("/{task_id}", response_model=TaskPublic)
async def update_task(user_id: CurrentUser, task_id: TaskId, task_in: TaskUpdate) -> TaskPublic:
    def work(session: Session) -> TaskPublic:
        task = tasks.update_task(session=session, user_id=user_id, task_id=task_id, task_in=task_in)
        return _public(task)

    return await in_session(work)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(user_id: CurrentUser, task_id: TaskId) -> Response:
    await in_session(
        lambda session: tasks.delete_task(session=session, user_id=user_id, task_id=task_id)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch("/{task_id}/complete", response_model=TaskPublic)
async def toggle_task(user_id: CurrentUser, task_id: TaskId) -> TaskPublic:
    return await in_session(
        lambda session: _public(
            tasks.toggle_task(session=session, user_id=user_id, task_id=task_id)
        )
    )
