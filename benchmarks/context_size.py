"""How big does the model request get? 300 tasks, 25 "show my tasks" turns in one conversation.

Issue #15, finding 2: the history was replayed verbatim with every tool output, so the request
grew without bound (66 KB -> 1.7 MB). This runs the real API and MCP server (two processes of
the tree it is started from) against the loopback fake provider, which calls `list_tasks` for
every message and answers quoting the tool's output, and prints the largest request body the
provider received, and the size per turn.

    python benchmarks/context_size.py [--tasks 300] [--turns 25]

To measure an older commit, run it with that tree first on the path (the script uses only the
fake provider — `tests.support.fake_openai`, or `tests.fake_openai` in older trees —,
`todo-agent api/mcp` and the REST API, which every version has):

    git worktree add /tmp/old 84ad153
    cd /tmp/old && PYTHONPATH=/tmp/old python /path/to/benchmarks/context_size.py
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

try:
    from tests.support.fake_openai import FakeOpenAI
except ImportError:  # an older tree, from before tests/support
    from tests.fake_openai import FakeOpenAI  # type: ignore[no-redef]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--turns", type=int, default=25)
    args = parser.parse_args()
    fake = FakeOpenAI(default_tool="list_tasks", default_arguments={}).start()
    folder = Path(tempfile.mkdtemp(prefix="context-size-"))
    api_port, mcp_port = _free_port(), _free_port()
    secret = secrets.token_urlsafe(48)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL"))},
        "TODO_AGENT_DATA_DIR": str(folder),
        "BETTER_AUTH_SECRET": secret,
        "MCP_SERVER_URL": f"http://127.0.0.1:{mcp_port}/mcp",
        "MODEL": "fake-model",
        "OPENAI_BASE_URL": fake.base_url,
        "CHAT_RATE_LIMIT": "0",
        "MODEL_TIMEOUT_SECONDS": "60",
    }
    env.pop("DATABASE_URL", None)
    me = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*me, "migrate"], env=env, check=True, capture_output=True)
    logs = (folder / "mcp.log").open("w"), (folder / "api.log").open("w")
    children = [
        subprocess.Popen(
            [*me, "mcp", "--port", str(mcp_port)], env=env, stdout=logs[0], stderr=subprocess.STDOUT
        ),
        subprocess.Popen(
            [*me, "api", "--port", str(api_port)], env=env, stdout=logs[1], stderr=subprocess.STDOUT
        ),
    ]
    try:
        _wait(f"http://127.0.0.1:{mcp_port}/mcp", children[0])
        _wait(f"http://127.0.0.1:{api_port}/health", children[1])
        token = subprocess.run(
            [*me, "token", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{api_port}/api/bench"
        with httpx.Client(timeout=120, headers=headers) as client:
            for number in range(1, args.tasks + 1):
                client.post(f"{base}/tasks", json={"title": f"Task number {number} to do"})
            conversation = None
            sizes = []
            for turn in range(args.turns):
                fake.requests.clear()
                response = client.post(
                    f"{base}/chat",
                    json={"message": "show my tasks", "conversation_id": conversation},
                )
                if response.status_code != 200:
                    print(f"turn {turn + 1}: HTTP {response.status_code} {response.text[:200]}")
                    break
                conversation = response.json()["conversation_id"]
                sizes.append(max(len(json.dumps(body).encode()) for body in fake.requests))
        print("largest request per turn (bytes):", sizes)
        print(f"largest model request: {max(sizes)} bytes ({max(sizes) / 1024:.0f} KB)")
        return 0
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        fake.stop()


if __name__ == "__main__":
    raise SystemExit(main())
