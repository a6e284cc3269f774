"""Property-based fuzzing of the whole OpenAPI schema with schemathesis, in process (ASGI).

Every operation gets generated requests, valid and invalid ones, with a valid bearer token and
the path's `user_id` fixed to the token's user (so requests get past authentication and reach
the validation and the database). The chat routes run the offline model against the real MCP
server. Checks: no 5xx; every status code, content type, header and body as the schema declares;
invalid input refused with a 4xx.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.config import Settings
from tests.reliability import figures
from tests.support.tokens import token

USER = "fuzzer"
EXAMPLES_PER_OPERATION = 25  # per generation mode: bounded, a few seconds per database
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(app_settings: Settings) -> FastAPI:
    from backend.main import create_app

    return create_app(app_settings)


def _operations(schema: schemathesis.BaseSchema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_whole_schema_holds_under_generated_input(app: FastAPI, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token(USER, ttl=3600)}"}
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    count = 0
    unsatisfiable: list[str] = []
    operations = _operations(schema)
    assert len(operations) >= 13

    for operation in operations:
        fixed = {"user_id": USER} if "{user_id}" in operation.path else None
        strategy = operation.as_strategy(mode, path_parameters=fixed, headers=headers)

        @hypothesis.given(case=strategy)
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: a failure reproduces
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            nonlocal count
            count += 1
            response = case.call()
            case.validate_response(response, checks=checks)

        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:
            # Nothing to make invalid (no parameters or body left once user and token are fixed).
            assert mode is GenerationMode.NEGATIVE, operation.label
            unsatisfiable.append(operation.label)
    assert len(unsatisfiable) <= 3, unsatisfiable
    figures.count(f"fuzz cases ({mode.value})", count)
    assert count >= len(operations)
