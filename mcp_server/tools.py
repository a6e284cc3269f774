"""The todo tools: a thin layer over `backend.tasks`, always scoped to the verified caller.

`add_tools(server)` declares the tools on a server (`mcp_server.server.build_server`). Each tool
validates its input with the same models as the REST API (`TaskCreate`, `TaskUpdate`),
runs one short transaction, and returns a small pydantic model, which the SDK publishes as the
tool's output schema and sends as structured content (plus the same JSON as text).
Expected failures (unknown task, bad input) raise `ToolError`, so the model reads a short
message it can relay; anything else is a crash the SDK reports without details.

The functions are synchronous on purpose: the SDK runs sync tools on a worker thread, so
database work never blocks the event loop (the caller's identity, a context variable, follows).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)
from sqlmodel import Session, SQLModel

from backend import tasks
from backend.db import session_scope
from backend.models import DESCRIPTION_MAX, TITLE_MAX, Task, TaskCreate, TaskUpdate
from mcp_server.auth import current_user_id

# --- inputs ------------------------------------------------------------------------------

TaskId = Annotated[int, Field(ge=1, description="The task's id, as shown by list_tasks.")]
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_MAX, description="Short title of the task.")
]
Description = Annotated[
    str, Field(max_length=DESCRIPTION_MAX, description="Optional details; may be empty.")
]
LIST_PAGE_DEFAULT = 50  # a page a model reads comfortably (~2.5 KB); `total` says if there is more
LIST_PAGE_MAX = tasks.LIST_LIMIT  # 500: the offline model matches names over a whole list
Search = Annotated[
    str | None,
    Field(
        max_length=TITLE_MAX,
        description="Only tasks whose title or description contain these words (any case).",
    ),
]
Limit = Annotated[int, Field(ge=1, le=LIST_PAGE_MAX, description="Tasks per page (default 50).")]
Offset = Annotated[int, Field(ge=0, description="Skip this many tasks (from next_offset).")]
StatusFilter = Annotated[
    tasks.TaskStatus,
    Field(description="Which tasks to list: all, pending (not done yet) or completed."),
]

# --- outputs -----------------------------------------------------------------------------

ChangeKind = Literal["created", "completed", "deleted", "updated"]


class TaskChange(BaseModel):
    """What a tool did to one task."""

    task_id: int
    status: ChangeKind
    title: str


class Compact(BaseModel):
    """Output without the fields that are not set: every byte goes to the model each turn."""

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class TaskItem(Compact):
    """A task as the model sees it: no timestamps, the description only when there is one.

    The REST API keeps full tasks; a listing here is read by a language model on every later
    turn, where 300 tasks with timestamps were ~60 KB per listing.
    """

    id: int
    title: str
    completed: bool
    description: str | None = None


class TaskList(Compact):
    """One page of the caller's tasks, oldest first."""

    tasks: list[TaskItem]
    count: int = Field(description="How many tasks are in this answer.")
    total: int = Field(description="How many tasks match in all.")
    next_offset: int | None = Field(
        default=None, description="Call list_tasks again with this offset for the next page."
    )


# --- helpers -----------------------------------------------------------------------------

ModelT = TypeVar("ModelT", bound=SQLModel)


def validation_message(exc: ValidationError) -> str:
    """One line per problem, naming the field and the rule, never echoing the value."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "input"
        reason = str(error["msg"]).removeprefix("Value error, ")
        # Our own validators already name the field ("title must not be blank").
        problems.append(reason if reason.startswith(field) else f"{field}: {reason}")
    return "Invalid input: " + "; ".join(problems)


def validated(model: type[ModelT], **values: object) -> ModelT:
    """Validate with the API's own model; a failure is the model's mistake, so a ToolError."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ToolError(validation_message(exc)) from None


@contextmanager
def user_session() -> Iterator[tuple[Session, str]]:
    """The caller's id and a short session; a missing task becomes a readable tool error."""
    user_id = current_user_id()
    try:
        # Each tool writes at most once: no transaction needed around its statements.
        with session_scope(autocommit=True) as session:
            yield session, user_id
    except tasks.TaskNotFoundError as exc:
        raise ToolError(
            f"Task {exc.task_id} not found. Call list_tasks to see the ids of your tasks."
        ) from None


def change(task: Task, status: ChangeKind) -> TaskChange:
    assert task.id is not None  # a stored task
    return TaskChange(task_id=task.id, status=status, title=task.title)


# --- tools -------------------------------------------------------------------------------

ToolFunction = TypeVar("ToolFunction", bound=Callable[..., Any])

# Hints for clients. read_only: changes nothing. destructive: may lose data. idempotent:
# repeating it changes nothing more. open_world=False: only this service's database is touched.
CLOSED_WORLD = {"open_world_hint": False}


def add_tools(server: MCPServer) -> None:
    """Declare the todo tools on `server`."""

    def tool(title: str, **hints: bool) -> Callable[[ToolFunction], ToolFunction]:
        # `server.tool` with the docstring as description, without the source's indentation
        # (the SDK takes `__doc__` as it is on Python 3.11).
        def register(function: ToolFunction) -> ToolFunction:
            return server.tool(
                description=inspect.cleandoc(function.__doc__ or ""),
                annotations=ToolAnnotations(title=title, **hints, **CLOSED_WORLD),
                structured_output=True,
            )(function)

        return register

    @tool("Add a task", read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    def add_task(title: Title, description: Description = "") -> TaskChange:
        """Add a new task to the user's todo list.

        Use this when the user asks to add, create or remember something to do. Returns the new
        task's id, which later calls (complete_task, update_task, delete_task) take.
        """
        task_in = validated(TaskCreate, title=title, description=description)
        with user_session() as (session, user_id):
            task = tasks.create_task(session=session, user_id=user_id, task_in=task_in)
            return change(task, "created")

    @tool("List tasks", read_only_hint=True, idempotent_hint=True)
    def list_tasks(
        status: StatusFilter = "all",
        search: Search = None,
        limit: Limit = LIST_PAGE_DEFAULT,
        offset: Offset = 0,
    ) -> TaskList:
        """List the user's tasks, oldest first, with their ids and whether they are completed.

        Use this to answer "what's on my list?", and before completing, renaming or deleting a
        task the user names by its title, to find its id (pass `search` with words of the title
        to find it among many tasks). Answers one page: `total` says how many match, and
        `next_offset` (when present) fetches the next page.
        """
        with user_session() as (session, user_id):
            found, total = tasks.page_tasks(
                session=session,
                user_id=user_id,
                status=status,
                search=search,
                limit=limit,
                offset=offset,
            )
            items = [
                TaskItem(
                    id=task.id or 0,
                    title=task.title,
                    completed=task.completed,
                    description=task.description or None,
                )
                for task in found
            ]
        shown_until = offset + len(items)
        return TaskList(
            tasks=items,
            count=len(items),
            total=total,
            next_offset=shown_until if shown_until < total else None,
        )

    @tool("Complete a task", read_only_hint=False, destructive_hint=False, idempotent_hint=True)
    def complete_task(task_id: TaskId) -> TaskChange:
        """Mark one of the user's tasks as completed (done). Completing a completed task is fine.

        Takes the task's id; if the user names the task by its title, call list_tasks first.
        """
        with user_session() as (session, user_id):
            task = tasks.set_completed(
                session=session, user_id=user_id, task_id=task_id, completed=True
            )
            return change(task, "completed")

    @tool("Delete a task", read_only_hint=False, destructive_hint=True, idempotent_hint=False)
    def delete_task(task_id: TaskId) -> TaskChange:
        """Delete one of the user's tasks for good. Returns the title of the deleted task.

        Takes the task's id; if the user names the task by its title, call list_tasks first.
        """
        with user_session() as (session, user_id):
            task = tasks.delete_task(session=session, user_id=user_id, task_id=task_id)
            return change(task, "deleted")

    @tool("Update a task", read_only_hint=False, destructive_hint=True, idempotent_hint=True)
    def update_task(
        task_id: TaskId, title: Title | None = None, description: Description | None = None
    ) -> TaskChange:
        """Change the title and/or the description of one of the user's tasks.

        Give only what changes; an empty description clears it. To mark a task done use
        complete_task instead. Takes the task's id; if the user names the task by its title, call
        list_tasks first.
        """
        if title is None and description is None:
            raise ToolError("Nothing to update: give a new title, a new description, or both.")
        task_in = validated(TaskUpdate, title=title, description=description)
        with user_session() as (session, user_id):
            task = tasks.update_task(
                session=session, user_id=user_id, task_id=task_id, task_in=task_in
            )
            return change(task, "updated")
