"""WS /api/{user_id}/chat/ws: the same turn over a WebSocket, with cancel (docs/websocket.md).

A real `websockets` client talks to the app served by uvicorn on loopback; the model is scripted
(a slow step is one that waits until it is cancelled), the tools are the real MCP server's.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from backend.config import Settings
from backend.deps import get_model_provider
from backend.main import create_app
from tests.support.chat import chat
from tests.support.serving import serving
from tests.support.tokens import token, unsigned_token

ADD_MILK = function_call("add_task", {"title": "Buy milk"}, call_id="call_add")
WAIT = 10  # seconds any single frame may take to arrive before the test fails


class Slow:
    """A model step that only a cancel ends; `called` is set once the model call is running."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.step = ModelStep.respond(self._never_answers)

    async def _never_answers(self, _call: Any) -> list[Any]:
        self.called.set()
        await asyncio.sleep(3600)
        raise AssertionError("not cancelled")

    def wait(self) -> None:
        assert self.called.wait(WAIT), "the model was not called"


@dataclass
class Live:
    base_url: str
    model: ScriptedModel
    settings: Settings

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/alice/chat/ws"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=WAIT)

    @contextmanager
    def socket(self, user: str = "alice", **options: Any) -> Iterator[ClientConnection]:
        """A connection authenticated by subprotocol, its `connection` frame already read."""
        url = self.ws_url.replace("/alice/", f"/{user}/")
        with connect(url, subprotocols=["bearer", token(user)], **options) as ws:  # type: ignore[list-item]
            assert receive(ws)["type"] == "connection"
            yield ws


class ScriptedProvider:
    """The app's model provider, serving `model` to every turn of every route."""

    def __init__(self, model: ScriptedModel) -> None:
        self.scripted = model

    def model(self) -> ScriptedModel:
        return self.scripted


@contextmanager
def live_app(settings: Settings, steps: list[Any], **changes: Any) -> Iterator[Live]:
    app_settings = settings.model_copy(update=changes)
    app = create_app(app_settings)
    scripted = ScriptedModel(steps)
    app.dependency_overrides[get_model_provider] = lambda: ScriptedProvider(scripted)
    with serving(app) as base_url:
        yield Live(base_url, scripted, app_settings)
    scripted.assert_complete()


def receive(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=WAIT))
    return frame


def until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """Frames up to and including the first of type `kind`."""
    frames = [receive(ws)]
    while frames[-1]["type"] != kind:
        frames.append(receive(ws))
    return frames


def send(ws: ClientConnection, **frame: Any) -> None:
    ws.send(json.dumps(frame))


def close_code(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def stored(live: Live, conversation_id: int) -> list[tuple[str, str, list[str]]]:
    with live.http() as client:
        response = client.get(
            f"/api/alice/conversations/{conversation_id}/messages",
            headers={"Authorization": f"Bearer {token('alice')}"},
        )
    assert response.status_code == 200, response.text
    return [
        (m["role"], m["content"], [c["tool"] for c in m["tool_calls"]]) for m in response.json()
    ]


def task_titles(live: Live) -> list[str]:
    with live.http() as client:
        response = client.get(
            "/api/alice/tasks", headers={"Authorization": f"Bearer {token('alice')}"}
        )
    return [task["title"] for task in response.json()]


# --- a turn ----------------------------------------------------------------------------------


def test_a_turn_with_a_tool_call_streams_the_sse_events_and_is_stored_like_chat(settings, headers):
    steps = [[ADD_MILK], [assistant_message("Added 'Buy milk'.")]]
    with live_app(settings, steps * 2) as live:
        with live.socket() as ws:
            send(ws, type="message", message="add buy milk")
            frames = until(ws, "done")
        start, *middle, done = frames
        conversation_id = start["conversation_id"]
        assert start == {"type": "start", "conversation_id": conversation_id}
        assert {"type": "typing", "state": "thinking", "tool": None} in middle
        assert {"type": "typing", "state": "tool", "tool": "add_task"} in middle
        (tool_call,) = [f for f in middle if f["type"] == "tool_call"]
        assert tool_call["tool"] == "add_task" and tool_call["parameters"] == {"title": "Buy milk"}
        text = "".join(f["text"] for f in middle if f["type"] == "delta")
        assert text == "Added 'Buy milk'."
        assert done == {
            "type": "done",
            "conversation_id": conversation_id,
            "response": "Added 'Buy milk'.",
            "tool_calls": [{k: tool_call[k] for k in ("tool", "parameters", "result")}],
        }
        with live.http() as client:
            plain = chat(client, headers, "add buy milk").json()
        # The same stored messages as a /chat turn.
        assert stored(live, conversation_id) == stored(live, plain["conversation_id"])
        assert stored(live, conversation_id) == [
            ("user", "add buy milk", []),
            ("assistant", "Added 'Buy milk'.", ["add_task"]),
        ]


def test_the_connection_frame_names_the_user_and_the_limits(settings):
    with live_app(settings, [], ws_max_message_bytes=2048, chat_rate_limit=7) as live:
        with connect(live.ws_url, subprotocols=["bearer", token("alice")]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "bearer"  # echoed, as browsers require
            assert receive(ws) == {
                "type": "connection",
                "accepted": True,
                "user_id": "alice",
                "limits": {
                    "max_message_bytes": 2048,
                    "idle_timeout_seconds": 60.0,
                    "chat_rate_limit_per_minute": 7,
                    "max_connections": 5,
                },
            }
            send(ws, type="ping")
            assert receive(ws) == {"type": "pong"}


# --- auth ------------------------------------------------------------------------------------


def test_a_first_auth_frame_authenticates_without_a_subprotocol(settings):
    with live_app(settings, [[assistant_message("Hi.")]]) as live:
        with connect(live.ws_url) as ws:
            assert ws.subprotocol is None
            send(ws, type="auth", token=token("alice"))
            assert receive(ws)["user_id"] == "alice"
            send(ws, type="message", message="hello")
            assert until(ws, "done")[-1]["response"] == "Hi."


@pytest.mark.parametrize(
    ("credential", "code", "reason"),
    [
        (lambda: "not-a-jwt", 4401, "Invalid token"),
        (lambda: token("alice", ttl=-60), 4401, "Token expired"),
        (lambda: token("alice", secret="another-secret-" + "x" * 32), 4401, "Invalid token"),
        (lambda: unsigned_token("alice"), 4401, "Invalid token"),
        (lambda: token("bob"), 4403, "Token does not belong to this user"),
    ],
    ids=["garbage", "expired", "wrong-key", "alg-none", "foreign"],
)
@pytest.mark.parametrize("way", ["subprotocol", "first-frame"])
def test_bad_tokens_are_refused_with_a_close_code(settings, credential, code, reason, way):
    with live_app(settings, []) as live:
        if way == "subprotocol":
            ws = connect(live.ws_url, subprotocols=["bearer", credential()])
        else:
            ws = connect(live.ws_url)
            send(ws, type="auth", token=credential())
        with ws:
            assert close_code(ws) == (code, reason)


def test_no_token_within_the_auth_timeout_closes_4401(settings):
    with live_app(settings, [], ws_auth_timeout_seconds=0.2) as live:
        with connect(live.ws_url) as ws:
            assert close_code(ws) == (4401, "No token: send an auth frame first")


def test_a_first_frame_that_is_not_auth_closes_4401(settings):
    with live_app(settings, []) as live:
        with connect(live.ws_url) as ws:
            send(ws, type="message", message="hello")
            assert close_code(ws) == (4401, "The first frame must be an auth frame")


def test_a_token_that_expires_while_connected_closes_the_socket(settings, monkeypatch):
    with live_app(settings, []) as live:
        with connect(live.ws_url, subprotocols=["bearer", token("alice", ttl=60)]) as ws:  # type: ignore[list-item]
            receive(ws)
            send(ws, type="ping")
            assert receive(ws) == {"type": "pong"}
            monkeypatch.setattr("backend.api.chat_ws.clock", lambda: time.time() + 120)
            send(ws, type="ping")
            assert close_code(ws) == (4401, "Token expired")


def test_a_fresh_auth_frame_keeps_an_expiring_connection_open(settings, monkeypatch):
    with live_app(settings, []) as live:
        with connect(live.ws_url, subprotocols=["bearer", token("alice", ttl=60)]) as ws:  # type: ignore[list-item]
            receive(ws)
            send(ws, type="auth", token=token("alice", ttl=3600))
            monkeypatch.setattr("backend.api.chat_ws.clock", lambda: time.time() + 120)
            send(ws, type="ping")
            assert receive(ws) == {"type": "pong"}
            send(ws, type="auth", token=token("bob"))  # another user: refused
            assert close_code(ws) == (4403, "Token does not belong to this user")


# --- origin ----------------------------------------------------------------------------------


def test_a_foreign_origin_is_refused_and_listed_or_same_origins_are_accepted(settings):
    with live_app(settings, [], cors_origins=["https://app.example"]) as live:
        with connect(live.ws_url, origin="https://evil.example") as ws:  # type: ignore[arg-type]
            assert close_code(ws) == (4403, "Origin not allowed")
        same = live.base_url
        for origin in ["https://app.example", same]:
            with live.socket(origin=origin) as ws:
                send(ws, type="ping")
                assert receive(ws) == {"type": "pong"}


# --- limits ----------------------------------------------------------------------------------


def test_an_oversize_frame_gets_an_error_and_the_connection_stays(settings):
    with live_app(settings, [], ws_max_message_bytes=1024) as live:
        with live.socket() as ws:
            send(ws, type="message", message="x" * 2000)
            assert receive(ws) == {
                "type": "error",
                "status": 413,
                "detail": "Frame larger than 1024 bytes",
            }
            send(ws, type="message", message="")
            error = receive(ws)
            assert error["type"] == "error" and error["status"] == 422
            send(ws, type="ping")
            assert receive(ws) == {"type": "pong"}


def test_a_second_message_while_a_turn_runs_gets_an_error_not_a_second_turn(settings):
    slow = Slow()
    with live_app(settings, [slow.step]) as live:
        with live.socket() as ws:
            send(ws, type="message", message="first")
            start = receive(ws)
            assert receive(ws)["state"] == "thinking"
            send(ws, type="message", message="second", conversation_id=start["conversation_id"])
            assert receive(ws) == {
                "type": "error",
                "status": 409,
                "detail": "A reply is still being written; cancel it or wait",
            }
            send(ws, type="message", message="elsewhere")  # a new conversation: still one turn
            assert receive(ws)["status"] == 409
            slow.wait()
            send(ws, type="cancel")
            assert until(ws, "done")[-1]["response"].startswith("Stopped.")
        assert [m[1] for m in stored(live, start["conversation_id"])] == [
            "first",
            "Stopped. Nothing was done before stopping.",
        ]


def test_the_chat_rate_limit_applies_to_socket_messages(settings):
    with live_app(settings, [[assistant_message("Hi.")]], chat_rate_limit=1) as live:
        with live.socket() as ws:
            send(ws, type="message", message="hello")
            until(ws, "done")
            send(ws, type="message", message="again")
            error = receive(ws)
            assert error["type"] == "error" and error["status"] == 429
            assert error["detail"].startswith("Too many chat requests")


def test_connections_per_user_are_bounded(settings):
    with live_app(settings, [], ws_max_connections_per_user=1) as live:
        with live.socket():
            with connect(live.ws_url, subprotocols=["bearer", token("alice")]) as second:  # type: ignore[list-item]
                assert close_code(second) == (4429, "Too many open chat connections")
            with live.socket(user="bob"):  # another user has a bound of their own
                pass
        with live.socket():  # the first one closed: room again
            pass


def test_an_idle_connection_is_closed_and_pings_keep_it_open(settings):
    idle = 1.0
    with live_app(settings, [], ws_idle_timeout_seconds=idle) as live:
        with live.socket() as ws:
            # Pings for twice the idle timeout, each a tenth of it after the last pong: the gap
            # leaves 0.9 s for a loaded machine (0.2 s of 0.5 s left only 0.3 s).
            pinging_until = time.monotonic() + 2 * idle
            while time.monotonic() < pinging_until:
                time.sleep(idle / 10)
                send(ws, type="ping")
                assert receive(ws) == {"type": "pong"}
            assert close_code(ws) == (4408, "Idle for too long; reconnect to chat again")


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_mid_model_call_stores_a_clean_turn_and_the_next_message_runs_at_once(settings):
    slow = Slow()
    with live_app(settings, [slow.step, [assistant_message("Next reply.")]]) as live:
        with live.socket() as ws:
            send(ws, type="message", message="write me a poem")
            conversation_id = receive(ws)["conversation_id"]
            slow.wait()
            cancelled_at = time.perf_counter()
            send(ws, type="cancel")
            done = until(ws, "done")[-1]
            assert done == {
                "type": "done",
                "conversation_id": conversation_id,
                "response": "Stopped. Nothing was done before stopping.",
                "tool_calls": [],
            }
            send(ws, type="message", message="next", conversation_id=conversation_id)
            assert receive(ws) == {"type": "start", "conversation_id": conversation_id}
            accepted_after = time.perf_counter() - cancelled_at
            assert until(ws, "done")[-1]["response"] == "Next reply."
        print(f"\ncancel -> next message accepted: {accepted_after * 1000:.1f} ms")
        assert stored(live, conversation_id) == [
            ("user", "write me a poem", []),
            ("assistant", "Stopped. Nothing was done before stopping.", []),
            ("user", "next", []),
            ("assistant", "Next reply.", []),
        ]


def test_cancel_after_a_tool_ran_records_the_tool_and_its_effect(settings):
    slow = Slow()
    with live_app(settings, [[ADD_MILK], slow.step]) as live:
        with live.socket() as ws:
            send(ws, type="message", message="add buy milk and think hard")
            conversation_id = receive(ws)["conversation_id"]
            tool_call = until(ws, "tool_call")[-1]
            slow.wait()
            send(ws, type="cancel")
            done = until(ws, "done")[-1]
        assert done["response"] == 'Stopped. Done before stopping: add_task {"title": "Buy milk"}.'
        assert done["tool_calls"] == [{k: tool_call[k] for k in ("tool", "parameters", "result")}]
        assert stored(live, conversation_id) == [
            ("user", "add buy milk and think hard", []),
            ("assistant", done["response"], ["add_task"]),
        ]
        assert task_titles(live) == ["Buy milk"]


def test_a_model_that_cannot_be_built_is_a_503_error_frame_not_a_failed_handshake(settings):
    app = create_app(settings.model_copy(update={"model": "gpt-4.1-mini", "openai_api_key": None}))
    with serving(app) as base_url:
        url = base_url.replace("http://", "ws://") + "/api/alice/chat/ws"
        with connect(url, subprotocols=["bearer", token("alice")]) as ws:  # type: ignore[list-item]
            assert receive(ws)["type"] == "connection"
            send(ws, type="message", message="hello")
            assert receive(ws) == {
                "type": "error",
                "status": 503,
                "detail": "The model is not available; check the MODEL settings",
            }


def test_cancel_with_nothing_running_is_an_error_event(settings):
    with live_app(settings, []) as live:
        with live.socket() as ws:
            send(ws, type="cancel")
            assert receive(ws) == {
                "type": "error",
                "status": 409,
                "detail": "No reply is being written",
            }


def test_a_client_that_disconnects_mid_turn_leaves_the_turn_to_finish_and_be_stored(settings):
    gone = threading.Event()

    async def reply_once_gone(_call: Any) -> list[Any]:
        await asyncio.to_thread(gone.wait, WAIT)
        return [assistant_message("Added 'Buy milk'.")]

    with live_app(settings, [[ADD_MILK], ModelStep.respond(reply_once_gone)]) as live:
        with live.socket() as ws:
            send(ws, type="message", message="add buy milk")
            conversation_id = receive(ws)["conversation_id"]
        gone.set()
        expected = [
            ("user", "add buy milk", []),
            ("assistant", "Added 'Buy milk'.", ["add_task"]),
        ]
        # (while it runs, the turn's journal shows the tool call already: wait for the reply)
        deadline = time.monotonic() + WAIT
        while stored(live, conversation_id) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(live, conversation_id) == expected


# --- POST .../cancel, for SSE clients, across replicas --------------------------------------


def _stream_in_thread(
    base_url: str, headers: dict[str, str], frames: list[Any]
) -> threading.Thread:
    def read() -> None:
        with httpx.Client(base_url=base_url, timeout=WAIT) as client:
            with client.stream(
                "POST", "/api/alice/chat/stream", json={"message": "slow one"}, headers=headers
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("data: {"):
                        frames.append(json.loads(line[6:]))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_for_start(frames: list[Any]) -> int:
    deadline = time.monotonic() + WAIT
    while not frames:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    conversation_id: int = frames[0]["conversation_id"]
    return conversation_id


@pytest.mark.parametrize("where", ["same-process", "other-replica"])
def test_post_cancel_stops_an_sse_turn_on_any_replica(settings, headers, where):
    slow = Slow()
    steps = [slow.step, [assistant_message("Next.")]]
    with live_app(settings, steps, turn_cancel_poll_seconds=0.1) as a:
        # A second replica: its own app and process state, the same database.
        other = create_app(a.settings)
        with serving(other) as other_url:
            frames: list[Any] = []
            reader = _stream_in_thread(a.base_url, headers, frames)
            conversation_id = _wait_for_start(frames)
            slow.wait()
            target = a.base_url if where == "same-process" else other_url
            with httpx.Client(base_url=target, timeout=WAIT) as client:
                answer = client.post(
                    f"/api/alice/conversations/{conversation_id}/cancel", headers=headers
                )
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"conversation_id": conversation_id, "stopped": True}
            reader.join(WAIT)
            assert frames[-1]["response"] == "Stopped. Nothing was done before stopping."
            with a.http() as client:  # free at once
                assert chat(client, headers, "next", conversation_id).json()["response"] == "Next."


def test_post_cancel_with_nothing_running_or_on_someone_elses_conversation(settings, headers):
    with live_app(settings, [[assistant_message("Hi.")]]) as live:
        with live.http() as client:
            conversation_id = chat(client, headers, "hello").json()["conversation_id"]
            path = f"/api/alice/conversations/{conversation_id}/cancel"
            idle = client.post(path, headers=headers)
            assert (idle.status_code, idle.json()) == (
                409,
                {"detail": "No reply is being written in this conversation"},
            )
            bob = {"Authorization": f"Bearer {token('bob')}"}
            foreign = client.post(path.replace("alice", "bob"), headers=bob)
            assert (foreign.status_code, foreign.json()) == (
                404,
                {"detail": "Conversation not found"},
            )
            missing = client.post("/api/alice/conversations/999999/cancel", headers=headers)
            assert missing.status_code == 404
