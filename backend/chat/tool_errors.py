"""Tool errors the model can act on: what was wrong with its call, in words it can fix.

Only a real transport failure (the task server did not answer) says the server is unavailable.
A call with arguments that are not a JSON object, or to a tool that does not exist (small local
models invent `create_task`), goes back to the model as an error naming the mistake, so it can
call again correctly instead of telling the user that the service is down.
"""

from __future__ import annotations

from agents import ModelBehaviorError, ToolErrorFormatterArgs

TOOL_NAMES = ("add_task", "list_tasks", "complete_task", "delete_task", "update_task")

TOOL_FAILED = (
    "The task server could not run this tool (it may be unavailable), so the change may not "
    "have been made. Tell the user and suggest trying again."
)

BAD_ARGUMENTS = (
    "Error: the arguments of this call were not a valid JSON object, so nothing was done. "
    'Call the tool again with one JSON object, for example {"title": "Buy milk"} for add_task '
    'or {"task_id": 3} for complete_task.'
)


def unknown_tool(name: str) -> str:
    return (
        f"Error: there is no tool named '{name}', so nothing was done. "
        f"The tools are: {', '.join(TOOL_NAMES)}. Call one of them instead."
    )


ERROR_PREFIXES = ("Error: ",)


def failure_message(error: Exception) -> str:
    """The tool output for a call that raised before the task server answered."""
    if isinstance(error, ModelBehaviorError) and "Invalid JSON input" in str(error):
        return BAD_ARGUMENTS
    return TOOL_FAILED


def is_error_output(output: object) -> bool:
    """Output that we (not the task server) wrote for a failed call."""
    return output == TOOL_FAILED or (
        isinstance(output, str) and output.startswith(ERROR_PREFIXES) and output.endswith(".")
    )


def format_tool_error(args: ToolErrorFormatterArgs[object]) -> str | None:
    """`RunConfig.tool_error_formatter`: a call to a tool that does not exist."""
    if args.kind == "tool_not_found":
        return unknown_tool(args.tool_name)
    return None
