"""The API answers what its OpenAPI document says, for generated requests (schemathesis).

Every operation of /openapi.json gets positive cases (valid per the document) and negative
ones (invalid per the document), each sent with one of the dev keys (so each role meets each
route), through the ASGI app on the real TiDB. Checks: no 5xx, every status code documented,
content types as documented, bodies and headers matching their schemas, invalid requests
rejected with a 4xx, and valid ones never refused by request validation (a 422
VALIDATION_FAILED on a valid request means the document is looser than the code).
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import schemathesis.checks as st_checks
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi as st_asgi
from sqlalchemy import Engine, text

from medhtap.platform.settings import Settings
from medhtap.services.api import create_app
from medhtap.services.settlement.identity import next_certno

KEYS = ["dev-admin-key", "dev-his-key", "dev-analyst-key", "dev-manager-key"]
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 25}
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


@pytest.fixture(scope="module")
def known(client: TestClient, engine: Engine) -> dict[str, str]:
    """Objects that exist, so generated requests also reach the success paths (and their
    response schemas): a person, an open visit with fee line F1, a settlement, an alert."""
    his, now = {"X-API-Key": "dev-his-key"}, dt.datetime.now().replace(microsecond=0)
    person = client.post(
        "/v1/persons",
        headers={"X-API-Key": "dev-admin-key"},
        json={
            "certno": next_certno(dt.date(1985, 2, 1), "1"),
            "psn_name": "吴九",
            "gend": "1",
            "brdy": "1985-02-01",
            "insutype": "310",
            "admdvs": "110100",
            "acct_balc": "800.00",
        },
    )
    assert person.status_code == 201, person.text
    psn_no = person.json()["psn_no"]

    def visit_with_fees() -> str:
        visit = client.post(
            "/v1/visits",
            headers=his,
            json={
                "psn_no": psn_no,
                "fixmedins_code": "H11010000002",
                "med_type": "outpatient",
                "dept_name": "Internal medicine",
                "begntime": now.isoformat(),
                "main_diag_code": "E11.9",
            },
        )
        assert visit.status_code == 201, visit.text
        mdtrt_id: str = visit.json()["mdtrt_id"]
        line = {"item_code": "XA10BAA003", "cnt": "2", "pric": "30.00"}
        fees = client.post(
            f"/v1/visits/{mdtrt_id}/fees",
            headers=his,
            json={"lines": [line | {"feedetl_sn": "F1", "fee_ocur_time": now.isoformat()}]},
        )
        assert fees.status_code == 201, fees.text
        return mdtrt_id

    settled = client.post(
        f"/v1/visits/{visit_with_fees()}/settlement",
        headers=his | {"Idempotency-Key": uuid.uuid4().hex},
        json={"use_account": True},
    )
    assert settled.status_code == 200, settled.text
    return {
        "psn_no": psn_no,
        "mdtrt_id": visit_with_fees(),
        "feedetl_sn": "F1",
        "setl_id": settled.json()["setl_id"],
        "alert_id": str(open_alert(engine)),
    }


def open_alert(engine: Engine) -> int:
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO risk_alert (rule_code, dedupe_key, score, summary, evidence, "
                "alert_status, run_id) "
                "VALUES ('duplicate_charge', :k, 0, 'conformance', '[]', 'open', 'oas')"
            ),
            {"k": uuid.uuid4().hex},
        )
        return int(row.lastrowid)


def _run(operation: Any, mode: GenerationMode, known: dict[str, str]) -> int:
    cases = 0
    keys = st.sampled_from(KEYS)
    strategy = keys.flatmap(lambda key: operation.as_strategy(mode, headers={"X-API-Key": key}))
    names = re.findall(r"{(\w+)}", operation.path)
    if names and mode == GenerationMode.POSITIVE:  # half of them on objects that exist
        fixed = {n: known[n] for n in names}
        strategy = st.one_of(
            strategy,
            keys.flatmap(
                lambda key: operation.as_strategy(
                    mode, headers={"X-API-Key": key}, path_parameters=fixed
                )
            ),
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


def test_generated_requests_conform_to_the_openapi_document(
    api_schema: Any, known: dict[str, str]
) -> None:
    total, failures = 0, []
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in EXAMPLES:
            started = time.perf_counter()
            try:
                cases = _run(operation, mode, known)
            except Unsatisfiable:  # nothing to make invalid (no parameters, free strings)
                assert mode == GenerationMode.NEGATIVE, operation.label
                continue
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
            else:
                took = time.perf_counter() - started
                print(f"{operation.label} [{mode.value}]: {cases} cases, {took:.1f} s")
                total += cases
    print(f"{total} generated requests")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_CASES
