"""Finding 1 of issue #15: the environment compose gives the API for OpenAI reaches OpenAI.

docker-compose.yml passes `OPENAI_BASE_URL: ${OPENAI_BASE_URL:-}` and .env.example leaves it
blank for OpenAI, so the API process gets `OPENAI_BASE_URL=""`. The `openai` client read that
itself and every turn was a 503 ("Request URL is missing an 'http://' or 'https://' protocol").

Here the API runs as its own process with exactly the variables the compose file's `api` service
sets (interpolated from .env.example with an OpenAI key and model filled in), except where they
name compose's own hosts (the database, the MCP service). Its requests to https://api.openai.com
go through a loopback CONNECT proxy (`HTTPS_PROXY`) to the fake provider serving TLS with a
certificate for api.openai.com that the process trusts (`SSL_CERT_FILE`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.connect_proxy import connect_proxy
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import PROJECT_ROOT, ServiceProcess, running, service_env
from tests.support.tokens import TEST_SECRET, bearer
from tests.test_compose import env_example, interpolate


def certificate_for(host: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def compose_api_environment() -> dict[str, str]:
    """The `api` service's environment as compose computes it from .env for OpenAI."""
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    dotenv = {
        **env_example(),
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "POSTGRES_PASSWORD": "unused",
        "OPENAI_API_KEY": "sk-test-compose",
        "MODEL": "gpt-4.1-mini",
    }
    environment = compose["services"]["api"]["environment"]
    return {name: interpolate(str(value), dotenv) for name, value in environment.items()}


@pytest.fixture
def openai_lookalike(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, Path]]:
    cert, key = certificate_for("api.openai.com", tmp_path)
    with FakeOpenAI.running(tls=(str(cert), str(key))) as fake:
        yield fake, cert


def test_the_compose_environment_for_openai_reaches_the_provider(
    openai_lookalike, mcp_process: ServiceProcess, database_url: str, tmp_path: Path
) -> None:
    fake, cert = openai_lookalike
    compose_env = compose_api_environment()
    assert compose_env["OPENAI_BASE_URL"] == ""  # the case that broke
    with connect_proxy(fake.port) as (proxy_url, tunnels):
        env = service_env(database_url, TEST_SECRET, tmp_path / "data")
        env.update(compose_env)
        env.update(
            # compose's own hosts, which do not exist here
            DATABASE_URL=database_url,
            MCP_SERVER_URL=mcp_process.url,
            # routing only: api.openai.com is reached through the proxy, over TLS
            HTTPS_PROXY=proxy_url,
            SSL_CERT_FILE=str(cert),
        )
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        with running("api", env, tmp_path) as api:
            ready = httpx.get(f"{api.url}/ready", timeout=10).json()
            assert ready["checks"]["model"] == "ok", ready
            response = httpx.post(
                f"{api.url}/api/alice/chat",
                json={"message": "buy milk"},
                headers=bearer("alice"),
                timeout=30,
            )
            assert response.status_code == 200, (response.text, api.log())
    assert tunnels and all(target == "api.openai.com:443" for target in tunnels)
    assert fake.requests[0]["model"] == "gpt-4.1-mini"
    assert fake.requests[0]["store"] is False  # finding 8: no stored completions at OpenAI
    assert response.json()["tool_calls"][0]["tool"] == "add_task"
