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


class _NoPlanConn:
    """What ReadTxn asks of its connection after a read: the executed plan (none here)."""

    def exec_driver_sql(self, sql: str) -> object:
        class Result:
            def keys(self) -> list[str]:
                return COLUMNS

            def fetchall(self) -> list[tuple[object, ...]]:
                return []

        return Result()


def _txn() -> object:
    from medhtap.analytics.readpath import ReadTxn, Snapshot

    now = dt.datetime.now()
    return ReadTxn(_NoPlanConn(), 1, Snapshot(None, None, now, now))  # type: ignore[arg-type]


class TestSpuriousCancel:
    """TiDB at our pin cancelled quick reads with 1105 "context canceled" that no kill or
    limit caused (CI, 2026-12-04): retried in the same snapshot; a slow one is the time
    limit and is not run again."""

    def test_a_quick_cancel_is_retried_and_the_read_answers(self) -> None:
        from pymysql.err import OperationalError

        calls: list[int] = []

        def execute() -> tuple[list[str], list[tuple[object, ...]]]:
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError(1105, "context canceled")
            return ["n"], [(1,)]

        result = _txn()._run(execute, "probe", None)  # type: ignore[attr-defined]
        assert result.rows == [(1,)] and len(calls) == 2

    def test_a_cancel_after_the_threshold_is_the_time_limit(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from pymysql.err import OperationalError

        from medhtap.analytics import readpath
        from medhtap.analytics.errors import QueryTimeout

        monkeypatch.setattr(readpath, "SPURIOUS_CANCEL_S", 0.0)
        calls: list[int] = []

        def execute() -> tuple[list[str], list[tuple[object, ...]]]:
            calls.append(1)
            raise OperationalError(1105, "context canceled")

        with pytest.raises(QueryTimeout):
            _txn()._run(execute, "probe", None)  # type: ignore[attr-defined]
        assert len(calls) == 1
