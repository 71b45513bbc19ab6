"""Engine detection from EXPLAIN rows and TSO decoding."""

from __future__ import annotations

import datetime as dt

import pytest

from medhtap.analytics.readpath import PlanStep, classify_engine, plan_steps, tso_time

COLUMNS = [
    "id",
    "estRows",
    "actRows",
    "task",
    "access object",
    "execution info",
    "operator info",
    "memory",
    "disk",
]


def steps(*tasks: tuple[str, str]) -> list[PlanStep]:
    return plan_steps(COLUMNS, [(i, 1, 1, t, "", "", "", "", "") for i, t in tasks])


@pytest.mark.parametrize(
    ("plan", "engine"),
    [
        (
            [
                ("HashAgg_5", "root"),
                ("└─TableReader_7", "root"),
                ("  └─TableFullScan_6", "cop[tikv]"),
            ],
            "tikv",
        ),
        ([("Point_Get_1", "root")], "tikv"),
        ([("Batch_Point_Get_1", "root")], "tikv"),
        (
            [
                ("TableReader_10", "root"),
                ("└─ExchangeSender_9", "mpp[tiflash]"),
                ("  └─HashAgg_5", "mpp[tiflash]"),
            ],
            "mpp",
        ),
        (
            [
                ("StreamAgg_9", "root"),
                ("└─TableReader_10", "root"),
                ("  └─TableFullScan_7", "batchCop[tiflash]"),
            ],
            "tiflash",
        ),
        (
            [
                ("TableReader", "root"),
                ("└─Scan", "cop[tiflash]"),
                ("IndexReader", "root"),
                ("└─IndexScan", "cop[tikv]"),
            ],
            "tiflash",
        ),
        ([("Projection_3", "root"), ("└─TableDual_4", "root")], "tidb"),
    ],
)
def test_engine_is_read_from_the_task_column(plan: list[tuple[str, str]], engine: str) -> None:
    assert classify_engine(steps(*plan)) == engine


def test_tso_physical_part_is_unix_milliseconds() -> None:
    ms = int(dt.datetime(2026, 11, 23, 7, 35, 38, 323000, tzinfo=dt.UTC).timestamp() * 1000)
    assert tso_time((ms << 18) | 7) == dt.datetime(2026, 11, 23, 7, 35, 38, 323000)


class TestTransientAndInterruptedErrors:
    def test_cancelled_context_is_the_execution_time_limit_not_bad_sql(self) -> None:
        from pymysql.err import OperationalError

        from medhtap.analytics.errors import QueryTimeout
        from medhtap.analytics.readpath import translate_db_error

        assert isinstance(
            translate_db_error(OperationalError(1105, "context canceled")), QueryTimeout
        )

    def test_region_errors_are_503_retry_later_not_400(self) -> None:
        from pymysql.err import OperationalError

        from medhtap.analytics.readpath import translate_db_error
        from medhtap.platform.errors import ServiceUnavailable
        from medhtap.platform.tx import is_retryable

        exc = OperationalError(1105, "region_id:31193, store_type:tikv, error:epoch_not_match:<> ")
        assert is_retryable(exc)
        assert isinstance(translate_db_error(exc), ServiceUnavailable)
        assert isinstance(
            translate_db_error(OperationalError(9005, "Region is unavailable")), ServiceUnavailable
        )
        assert not is_retryable(OperationalError(1105, "unknown error"))
