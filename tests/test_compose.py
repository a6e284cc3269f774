"""docker-compose.yml and Dockerfile, checked statically (no Docker engine runs in the test suite).

The compose file must parse, its commands must be valid `todo-agent` invocations, every variable it
sets must be a setting the app reads, ports and URLs must agree, and start-up must be ordered by
health checks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from backend.cli import build_parser
from backend.config import Settings
from tests.support.settings import setting_names

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "mcp", "api")
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` substitution."""

    def replace(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op and op.endswith("?") and not current:
            raise KeyError(f"{name}: {arg}")
        if op and op.endswith("-") and not current:
            return arg
        return current or ""

    return VARIABLE.sub(replace, value)


def command_args(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def container_ports(service: dict) -> set[int]:
    return {int(str(mapping).rsplit(":", 1)[-1]) for mapping in service.get("ports", [])}


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_services_are_the_expected_five(services: dict) -> None:
    assert set(services) == {"postgres", "redis", "migrate", "mcp", "api"}


def test_no_top_level_keys_that_some_compose_releases_reject(compose: dict) -> None:
    # `name:` fails on older Compose releases and `version:` is obsolete in v2: the project name
    # comes from COMPOSE_PROJECT_NAME in .env instead.
    assert not {"name", "version"} & set(compose)
    assert env_example()["COMPOSE_PROJECT_NAME"] == "todo-agent"


def test_the_api_shares_its_rate_limit_through_the_redis_service(services: dict) -> None:
    url = urlsplit(services["api"]["environment"]["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)
    assert "redis-cli ping" in healthcheck_text(services["redis"])


def test_postgres_has_a_volume_and_a_readiness_check(compose: dict, services: dict) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    volume, _, target = postgres["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]
    assert "pg_isready" in healthcheck_text(postgres)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_commands_are_valid_cli_invocations(services: dict, name: str) -> None:
    program, *args = command_args(services[name])
    assert program == "todo-agent"
    parsed = build_parser().parse_args(args)  # exits (SystemExit) on an unknown option
    assert parsed.command == name


@pytest.mark.parametrize("name", ["mcp", "api"])
def test_servers_listen_on_all_interfaces_on_their_published_port(
    services: dict, name: str
) -> None:
    service = services[name]
    parsed = build_parser().parse_args(command_args(service)[1:])
    assert parsed.host == "0.0.0.0"
    assert container_ports(service) == {parsed.port}
    assert f"127.0.0.1:{parsed.port}/health" in healthcheck_text(service)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_variable_set_is_a_setting(services: dict, name: str) -> None:
    unknown = set(services[name]["environment"]) - setting_names()
    assert not unknown, f"{name} sets variables the app does not read: {unknown}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_build_the_same_image(services: dict, name: str) -> None:
    assert services[name]["build"] == "."
    assert services[name]["image"] == services["api"]["image"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_secret_is_required_and_comes_from_the_env_file(services: dict, name: str) -> None:
    environment = services[name]["environment"]
    assert environment["BETTER_AUTH_SECRET"].startswith("${BETTER_AUTH_SECRET:?")
    assert environment["ENVIRONMENT"] == "production"  # refuses a short secret
    with pytest.raises(KeyError, match="BETTER_AUTH_SECRET"):
        interpolate(environment["BETTER_AUTH_SECRET"], {})


def test_database_url_points_at_the_postgres_service(services: dict) -> None:
    env = {**env_example(), "POSTGRES_PASSWORD": "pw123"}
    postgres = services["postgres"]["environment"]
    for name in APP_SERVICES:
        url = urlsplit(interpolate(services[name]["environment"]["DATABASE_URL"], env))
        assert url.scheme.startswith("postgresql")
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert url.username == postgres["POSTGRES_USER"]
        assert url.password == interpolate(postgres["POSTGRES_PASSWORD"], env) == "pw123"
        assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_api_finds_the_mcp_server_by_service_name(services: dict) -> None:
    url = urlsplit(services["api"]["environment"]["MCP_SERVER_URL"])
    mcp = services["mcp"]
    mcp_port = build_parser().parse_args(command_args(mcp)[1:]).port
    assert (url.hostname, url.port, url.path) == ("mcp", mcp_port, "/mcp")
    # The MCP server's DNS-rebinding protection must accept that Host header.
    allowed = Settings(_env_file=None, mcp_allowed_hosts=mcp["environment"]["MCP_ALLOWED_HOSTS"])
    assert "mcp" in allowed.mcp_allowed_hosts
    assert any(host in allowed.mcp_allowed_hosts for host in (f"mcp:{mcp_port}", "mcp:*"))


def test_startup_is_ordered_by_health(services: dict) -> None:
    expected = {
        "migrate": {"postgres": "service_healthy"},
        "mcp": {"postgres": "service_healthy", "migrate": "service_completed_successfully"},
        "api": {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "migrate": "service_completed_successfully",
            "mcp": "service_healthy",
        },
    }
    for name, dependencies in expected.items():
        conditions = {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        assert conditions == dependencies
        for dependency, condition in conditions.items():
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency]


def test_env_example_documents_every_variable_compose_reads() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {match["name"] for match in VARIABLE.finditer(text)}
    example = env_example()
    assert used <= set(example), f"missing from .env.example: {used - set(example)}"
    assert example["BETTER_AUTH_SECRET"] == ""  # no usable secret is shipped
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", ".git"):
        assert entry in ignored
    assert "requirements.lock" not in ignored  # the image installs from it
