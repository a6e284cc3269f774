"""What a model request carries, seen on the wire without any network (an httpx mock transport):
`store` (finding 8), the context budget (finding 2), the stream normaliser (findings 3, 6, 7),
the messages and tools sent as they are, and answers parsed by pydantic's validator (#21).
"""

from __future__ import annotations

import json
from typing import Any, get_args

import httpx2
import pytest
from openai import AsyncOpenAI
from openai._utils._transform import PropertyInfo
from openai.types.chat import ChatCompletionChunk, completion_create_params
from typing_extensions import get_type_hints, is_typeddict

from backend.chat import context_budget
from backend.chat.provider_model import SENT_AS_IS, ProviderCalls, RequestLimits, sent_as_is
from backend.chat.providers import ProviderClient
from backend.chat.stream_normaliser import (
    IncompleteStreamError,
    StreamNormaliser,
    normalised_stream,
)

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}


def recording_client(base_url: str, seen: list[dict[str, Any]]) -> AsyncOpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=COMPLETION)

    transport = httpx2.MockTransport(answer)
    return AsyncOpenAI(
        api_key="sk-test",
        base_url=base_url,
        http_client=httpx2.AsyncClient(transport=transport),
        max_retries=0,
    )


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("base_url", "store", "sent"),
    [
        ("https://api.openai.com/v1", False, False),  # OpenAI keeps stored completions unless
        ("https://api.openai.com/v1", True, True),  # OPENAI_STORE=true
        ("http://127.0.0.1:11434/v1", False, None),  # other servers: no `store` at all
    ],
)
async def test_store_is_false_unless_asked_for(base_url: str, store: bool, sent: Any) -> None:
    seen: list[dict[str, Any]] = []
    calls = ProviderCalls(recording_client(base_url, seen), RequestLimits(16000, store=store))
    # What the SDK passes for an OpenAI client when nothing is configured: store=True.
    await calls.create(model="m", messages=MESSAGES, store=True)
    assert seen[0].get("store") == sent


# --- messages and tools sent as they are ------------------------------------------------------


def renamed_or_reformatted(annotation: Any, seen: set[int]) -> list[PropertyInfo]:
    """The client's transform rules (an alias, a format) anywhere inside `annotation`."""
    if id(annotation) in seen:
        return []
    seen.add(id(annotation))
    found = [
        info
        for info in getattr(annotation, "__metadata__", ())
        if isinstance(info, PropertyInfo) and (info.alias or info.format)
    ]
    inner = (
        get_type_hints(annotation, include_extras=True).values()
        if is_typeddict(annotation)
        else get_args(annotation)
    )
    for member in inner:
        found += renamed_or_reformatted(member, seen)
    return found


@pytest.mark.parametrize(
    "params",
    [
        completion_create_params.CompletionCreateParamsStreaming,
        completion_create_params.CompletionCreateParamsNonStreaming,
    ],
)
def test_the_client_would_not_change_the_messages_or_tools_it_is_given(params: Any) -> None:
    # What makes handing them over unwalked safe; an openai release that adds an alias or a
    # format to either fails here.
    hints = get_type_hints(params, include_extras=True)
    for name in SENT_AS_IS:
        assert renamed_or_reformatted(hints[name], set()) == [], name


def test_the_rules_above_find_an_alias_where_there_is_one() -> None:
    from openai.types.beta import response_create_params

    params = response_create_params.ResponseCreateParamsStreaming
    assert renamed_or_reformatted(params, set())  # `betas` is sent as `openai-beta`


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "add_task",
            "description": "Add a task.",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
        },
    }
]


async def test_messages_and_tools_reach_the_provider_unchanged_and_unwalked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[Any] = []
    import openai.resources.chat.completions.completions as completions

    real = completions.async_maybe_transform

    async def recording(data: Any, expected_type: Any) -> Any:
        walked.append(data)
        return await real(data, expected_type)

    monkeypatch.setattr(completions, "async_maybe_transform", recording)
    seen: list[dict[str, Any]] = []
    calls = ProviderCalls(recording_client("http://127.0.0.1:1/v1", seen), RequestLimits(16000))
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    await calls.create(model="m", messages=messages, tools=TOOLS, temperature=0.5)
    assert seen[0]["messages"] == messages
    assert seen[0]["tools"] == TOOLS
    assert seen[0]["temperature"] == 0.5  # the other parameters go the usual way
    assert walked[0]["messages"] == []
    assert not isinstance(walked[0]["tools"], list)  # not given, as far as the client knows


def test_the_callers_own_extra_body_still_wins() -> None:
    sent = sent_as_is({"model": "m", "messages": MESSAGES, "extra_body": {"tools": [], "x": 1}})
    assert sent["extra_body"] == {"messages": MESSAGES, "tools": [], "x": 1}
    assert sent["messages"] == []


def test_anything_but_lists_is_left_to_the_client() -> None:
    kwargs: dict[str, Any] = {"model": "m", "messages": iter(MESSAGES)}
    assert sent_as_is(kwargs) is kwargs


# --- answers parsed by pydantic's validator ----------------------------------------------------


def chunk_event(delta: dict[str, Any], finish: str | None = None) -> str:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


def streaming_client(events: list[str]) -> ProviderClient:
    def answer(request: httpx2.Request) -> httpx2.Response:
        body = "".join(events) + "data: [DONE]\n\n"
        return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})

    return ProviderClient(
        api_key="sk-test",
        base_url="http://127.0.0.1:1/v1",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)),
        max_retries=0,
    )


async def streamed(client: ProviderClient) -> list[ChatCompletionChunk]:
    stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    return [chunk async for chunk in stream]


def counted_constructs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import openai._base_client as base_client

    built: list[Any] = []
    real = base_client.construct_type

    def counting(*, type_: Any, value: Any, **kwargs: Any) -> Any:
        built.append(value)
        return real(type_=type_, value=value, **kwargs)

    monkeypatch.setattr(base_client, "construct_type", counting)
    return built


async def test_chunks_that_fit_openais_types_are_validated_not_constructed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = counted_constructs(monkeypatch)
    call = {"index": 0, "id": "call_1", "type": "function"}
    extra = {"extra_content": {"google": {"thought_signature": "sig"}}}
    client = streaming_client(
        [
            chunk_event({"role": "assistant", "content": "Hel"}),
            chunk_event({"content": "lo"}),
            chunk_event({"tool_calls": [{**call, "function": {"name": "f"}, **extra}]}),
            chunk_event({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
            chunk_event({}, "tool_calls"),
        ]
    )
    chunks = await streamed(client)
    assert built == []
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == "Hello"
    tool_call = (chunks[2].choices[0].delta.tool_calls or [])[0]
    assert getattr(tool_call, "extra_content", None) == extra["extra_content"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_a_chunk_openais_types_refuse_is_built_as_the_client_always_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = counted_constructs(monkeypatch)
    quirk = {"index": 0, "function": {"name": "f", "arguments": {"title": "x"}}}  # llama.cpp
    chunks = await streamed(streaming_client([chunk_event({"tool_calls": [quirk]}, "stop")]))
    assert len(built) == 1
    function = (chunks[0].choices[0].delta.tool_calls or [])[0].function
    assert function is not None and function.arguments == {"title": "x"}  # for the normaliser


# --- the context budget -------------------------------------------------------------------------


def listing(ids: range) -> str:
    tasks = [{"id": i, "title": f"Task number {i}", "completed": False} for i in ids]
    return json.dumps({"tasks": tasks, "count": len(tasks), "total": 300, "next_offset": 50})


def show_turn(n: int) -> list[dict[str, Any]]:
    call_id = f"call_{n}"
    return [
        {"role": "user", "content": "show my tasks"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "list_tasks", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": listing(range(1, 51))},
        {"role": "assistant", "content": f"You have 300 tasks ({n})."},
    ]


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You manage todos."}]
    for n in range(turns):
        messages += show_turn(n)
    return [*messages, {"role": "user", "content": "and now?"}]


def test_the_budget_keeps_newest_turns_whole_and_shortens_older_outputs() -> None:
    messages = conversation(25)
    fitted = context_budget.fit(messages, None, budget_tokens=8000)
    assert context_budget.estimated_tokens(fitted) <= 8000
    assert fitted[0]["role"] == "system" and fitted[-1]["content"] == "and now?"
    tools = [m for m in fitted if m["role"] == "tool"]
    assert tools[-1]["content"] == listing(range(1, 51))  # the newest listing, whole
    assert tools[0]["content"].startswith("[earlier result, shortened] Listed 50 of 300 tasks")
    # Every tool output still follows its call.
    ids = [c["id"] for m in fitted for c in m.get("tool_calls") or []]
    assert [m["tool_call_id"] for m in fitted if m["role"] == "tool"] == ids


def test_the_budget_drops_the_oldest_turns_when_summaries_are_not_enough() -> None:
    fitted = context_budget.fit(conversation(200), None, budget_tokens=2000)
    assert context_budget.estimated_tokens(fitted) <= 2000
    assert fitted[-1]["content"] == "and now?"
    assert fitted[1]["role"] == "user"  # whole turns only


def test_a_short_conversation_is_sent_as_it_is() -> None:
    messages = conversation(2)
    assert context_budget.fit(messages, None, budget_tokens=16000) == messages


def test_trimming_harder_halves_what_was_refused() -> None:
    messages = conversation(10)
    before = context_budget.estimated_tokens(messages)
    fitted = context_budget.fit(messages, None, budget_tokens=100_000, hard=True)
    assert context_budget.estimated_tokens(fitted) <= before // 2


# --- the stream normaliser ----------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.construct(
        id="c",
        object="chat.completion.chunk",
        created=0,
        model="m",
        choices=[{"index": 0, "delta": delta, "finish_reason": finish}],
    )


def calls_of(
    chunks: list[ChatCompletionChunk],
) -> tuple[dict[int, dict[str, str]], StreamNormaliser]:
    """The tool calls the SDK would assemble (it keys them by index), after the normaliser."""
    normaliser = StreamNormaliser()
    assembled: dict[int, dict[str, str]] = {}
    for item in chunks:
        for call in normaliser.chunk(item).choices[0].delta.tool_calls or []:
            entry = assembled.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function is not None:
                entry["name"] = call.function.name or entry["name"]
                entry["arguments"] += call.function.arguments or ""
    return assembled, normaliser


def whole(name: str, arguments: str, call_id: str | None = None, **extra: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id:
        call["id"] = call_id
    return {**call, **extra}


def test_index_less_calls_stay_apart_and_continuations_join_their_call() -> None:
    signed = whole(
        "add_task",
        '{"title": "Buy milk"}',
        "a",
        extra_content={"google": {"thought_signature": "s1"}},
    )
    calls, normaliser = calls_of(
        [
            chunk({"tool_calls": [signed]}),
            chunk({"tool_calls": [whole("add_task", '{"title": ', "b")]}),
            chunk({"tool_calls": [{"function": {"arguments": '"Call mom"}'}}]}),
        ]
    )
    assert [(c["id"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("a", {"title": "Buy milk"}),
        ("b", {"title": "Call mom"}),
    ]
    assert normaliser.signatures == {"a": "s1"}


def test_a_reused_index_with_a_new_id_is_a_new_call() -> None:
    calls, _ = calls_of(
        [
            chunk({"tool_calls": [{"index": 0, **whole("add_task", '{"title": "A"}', "a")}]}),
            chunk({"tool_calls": [{"index": 0, **whole("add_task", '{"title": "B"}', "b")}]}),
        ]
    )
    assert [c["arguments"] for c in calls.values()] == ['{"title": "A"}', '{"title": "B"}']


def test_object_arguments_become_json_and_missing_ids_are_made_up() -> None:
    calls, _ = calls_of(
        [chunk({"tool_calls": [{"index": 0, **whole("add_task", {"title": "A"})}]})]
    )
    call = calls[0]
    assert json.loads(call["arguments"]) == {"title": "A"} and call["id"].startswith("call_")


async def test_a_stream_without_a_finish_reason_is_incomplete() -> None:
    async def provider() -> Any:
        yield chunk({"content": "Your tasks are: "})

    with pytest.raises(IncompleteStreamError):
        async for _ in normalised_stream(provider(), StreamNormaliser()):
            pass
