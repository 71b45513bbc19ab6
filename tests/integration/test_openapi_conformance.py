"""The API answers what its OpenAPI document says, for generated requests (schemathesis).

Every operation of /openapi.json gets positive cases (valid per the document) and negative
ones (invalid per the document), each sent with one of the dev keys (so each role meets each
route), through the ASGI app on the real TiDB. Checks: no 5xx, every status code documented,
content types as documented, bodies and headers matching their schemas, invalid requests
rejected with a 4xx, and valid ones never refused by request validation (a 422
VALIDATION_FAILED on a valid request means the document is looser than the code).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import schemathesis.checks as st_checks
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi as st_asgi

from medhtap.platform.settings import Settings
from medhtap.services.api import create_app

KEYS = ["dev-admin-key", "dev-his-key", "dev-analyst-key", "dev-manager-key"]
EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 30}
MIN_CASES = 1_000


@schemathesis.check
def valid_requests_pass_request_validation(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A request valid per the document may break a business rule (UNKNOWN_ITEM, ...), but
    never the request schema: that 422 VALIDATION_FAILED carries pydantic's list of errors."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return None
    if response.status_code != 422:
        return None
    error = response.json()["error"]
    if error["code"] == "VALIDATION_FAILED" and isinstance(error.get("details"), list):
        raise AssertionError(f"a request valid per the OpenAPI document was refused: {error}")
    return None


CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
    st_checks.negative_data_rejection,
    valid_requests_pass_request_validation,
]


@pytest.fixture(scope="module")
def api_schema(settings: Settings) -> Iterator[Any]:
    # Its own app: schemathesis' ASGI transport runs the app's lifespan (engines) itself.
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    yield schema
    st_asgi.shutdown_lifespans()


def _run(operation: Any, mode: GenerationMode) -> int:
    cases = 0
    strategy = st.sampled_from(KEYS).flatmap(
        lambda key: operation.as_strategy(mode, headers={"X-API-Key": key})
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,  # the same requests on every run: CI is reproducible
        database=None,
        phases=[Phase.generate],  # no shrinking: the failure report has the full request
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal cases
        cases += 1
        case.call_and_validate(checks=CHECKS)

    run()
    return cases


def test_generated_requests_conform_to_the_openapi_document(api_schema: Any) -> None:
    total, failures = 0, []
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in EXAMPLES:
            try:
                cases = _run(operation, mode)
            except Unsatisfiable:  # nothing to make invalid (no parameters, free strings)
                assert mode == GenerationMode.NEGATIVE, operation.label
                continue
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
            else:
                print(f"{operation.label} [{mode.value}]: {cases} cases")
                total += cases
    print(f"{total} generated requests")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_CASES
