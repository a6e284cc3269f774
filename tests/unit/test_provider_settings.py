"""Empty variables mean "not set" for the libraries too; /ready's model check (issue #15, #1)."""

from __future__ import annotations

import pytest

from backend.chat.model_check import model_configuration_problem
from backend.chat.providers import new_openai_client
from backend.config import Settings
from backend.environment import neutralise_empty_variables


def test_empty_library_variables_are_removed_and_others_kept() -> None:
    env = {
        "OPENAI_BASE_URL": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "https_proxy": "",
        "OPENAI_API_KEY": "sk-x",
        "MY_APP_FLAG": "",
    }
    assert sorted(neutralise_empty_variables(env)) == [
        "OPENAI_BASE_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https_proxy",
    ]
    assert env == {"OPENAI_API_KEY": "sk-x", "MY_APP_FLAG": ""}


def test_the_client_never_reads_the_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "")  # what compose passes for OpenAI
    monkeypatch.setenv("OPENAI_ORG_ID", "")
    client = new_openai_client(Settings(_env_file=None, openai_api_key="sk-test"))
    assert str(client.base_url) == "https://api.openai.com/v1/"
    assert client.organization is None


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"model": "offline"}, None),
        ({"model": "gpt-4.1-mini", "openai_api_key": "sk-x"}, None),
        ({"model": "llama3.1", "openai_base_url": "http://localhost:11434/v1"}, None),
        ({"model": "gpt-4.1-mini"}, "misconfigured: MODEL=gpt-4.1-mini needs OPENAI_API_KEY"),
        (
            {"model": "llama3.1", "openai_base_url": "localhost:11434/v1"},
            "misconfigured: OPENAI_BASE_URL must be an http:// or https:// URL",
        ),
    ],
)
def test_ready_names_a_misconfigured_model(values: dict[str, str], problem: str | None) -> None:
    assert model_configuration_problem(Settings(_env_file=None, **values)) == problem
