"""Drive the offline model through the real Agents SDK loop with in-memory todo tools.

The five tools mirror the MCP server's contract exactly: the same names and arguments, the same
JSON results (`{"task_id", "status", "title"}`, `{"tasks": [...], "count"}`) and the same error
text ("Error executing tool complete_task: Task 9 not found. ..."). Fast enough for hundreds of
conversations per second; the HTTP runner in test_eval.py checks the real route and MCP server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from agents import Agent, RunConfig, Runner, function_tool

from backend.chat.offline import OfflineModel

INSTRUCTIONS = "Manage the user's todo list with the tools."  # the offline model ignores it


@dataclass
class StoredTask:
    id: int
    title: str
    description: str = ""
    completed: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "completed": self.completed,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }


class ToolFailure(Exception):
    pass


@dataclass
class TodoStore:
    tasks: list[StoredTask] = field(default_factory=list)
    next_id: int = 1
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def seed(self, titles: list[Any]) -> None:
        for entry in titles:
            if isinstance(entry, str):
                entry = {"title": entry}
            self.tasks.append(
                StoredTask(
                    self.next_id,
                    entry["title"],
                    entry.get("description", ""),
                    bool(entry.get("completed", False)),
                )
            )
            self.next_id += 1

    def find(self, task_id: int) -> StoredTask:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise ToolFailure(
            f"Task {task_id} not found. Call list_tasks to see the ids of your tasks."
        )

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"title": t.title, "completed": t.completed} for t in self.tasks]

    def tools(self) -> list[Any]:
        store = self

        def outcome(name: str, arguments: dict[str, Any], action) -> str:
            store.calls.append((name, arguments))
            try:
                return json.dumps(action())
            except ToolFailure as exc:
                return f"Error executing tool {name}: {exc}"

        @function_tool
        def add_task(title: str, description: str = "") -> str:
            """Add a new task to the user's todo list."""

            def run() -> dict[str, Any]:
                clean = title.strip()
                if not clean:
                    raise ToolFailure("Invalid input: title must not be blank")
                if len(clean) > 200:
                    raise ToolFailure("Invalid input: title must be at most 200 characters")
                task = StoredTask(store.next_id, clean, description)
                store.next_id += 1
                store.tasks.append(task)
                return {"task_id": task.id, "status": "created", "title": task.title}

            return outcome("add_task", {"title": title, "description": description}, run)

        @function_tool
        def list_tasks(status: Literal["all", "pending", "completed"] = "all") -> str:
            """List the user's tasks."""

            def run() -> dict[str, Any]:
                shown = [
                    t.public()
                    for t in store.tasks
                    if status == "all" or t.completed == (status == "completed")
                ]
                return {"tasks": shown, "count": len(shown)}

            return outcome("list_tasks", {"status": status}, run)

        @function_tool
        def complete_task(task_id: int) -> str:
            """Mark a task as completed."""

            def run() -> dict[str, Any]:
                task = store.find(task_id)
                task.completed = True
                return {"task_id": task.id, "status": "completed", "title": task.title}

            return outcome("complete_task", {"task_id": task_id}, run)

        @function_tool
        def delete_task(task_id: int) -> str:
            """Delete a task."""

            def run() -> dict[str, Any]:
                task = store.find(task_id)
                store.tasks.remove(task)
                return {"task_id": task.id, "status": "deleted", "title": task.title}

            return outcome("delete_task", {"task_id": task_id}, run)

        @function_tool
        def update_task(
            task_id: int, title: str | None = None, description: str | None = None
        ) -> str:
            """Change a task's title and/or description."""

            def run() -> dict[str, Any]:
                if title is None and description is None:
                    raise ToolFailure(
                        "Nothing to update: give a new title, a new description, or both."
                    )
                task = store.find(task_id)
                if title is not None:
                    if not title.strip():
                        raise ToolFailure("Invalid input: title must not be blank")
                    task.title = title.strip()
                if description is not None:
                    task.description = description
                return {"task_id": task.id, "status": "updated", "title": task.title}

            return outcome(
                "update_task", {"task_id": task_id, "title": title, "description": description}, run
            )

        return [add_task, list_tasks, complete_task, delete_task, update_task]


@dataclass
class Conversation:
    """One chat: the store, the agent and the history replayed into every turn."""

    store: TodoStore = field(default_factory=TodoStore)
    history: list[Any] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    streamed: bool = False

    def __post_init__(self) -> None:
        self.agent = Agent(
            name="Todo assistant",
            instructions=INSTRUCTIONS,
            model=OfflineModel(),
            tools=self.store.tools(),
        )

    async def say(self, message: str) -> str:
        items = [*self.history, {"role": "user", "content": message}]
        config = RunConfig(tracing_disabled=True)
        if self.streamed:
            result = Runner.run_streamed(self.agent, items, run_config=config, max_turns=20)
            async for _ in result.stream_events():
                pass
        else:
            result = await Runner.run(self.agent, items, run_config=config, max_turns=20)
        self.history = result.to_input_list()
        reply = str(result.final_output)
        self.replies.append(reply)
        return reply
