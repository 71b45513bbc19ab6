"""Resident id-card numbers: checked by python-stdnum against the person's birth date and
gender; the generator used by tests, demo and synthetic data makes only valid ones."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medhtap.services.settlement import errors
from medhtap.services.settlement.identity import (
    CAPACITY,
    certno_gender,
    certno_problem,
    check_certno,
    make_certno,
)

# The example of GB 11643 as stdnum documents it: born 1991-01-01, order code 007 (male).
KNOWN = "360426199101010071"
BORN = dt.date(1991, 1, 1)


class TestCheck:
    def test_a_valid_number_of_this_person_passes(self) -> None:
        assert certno_problem(KNOWN, BORN, "1") is None
        check_certno(KNOWN, BORN, "1")

    def test_gender_not_stated_has_nothing_to_contradict(self) -> None:
        assert certno_problem(KNOWN, BORN, "9") is None

    @pytest.mark.parametrize(
        ("certno", "brdy", "gend", "why"),
        [
            ("360426199101010072", BORN, "1", "valid"),  # check digit off by one
            ("123456789012345678", BORN, "1", "valid"),  # what the old test data looked like
            ("360426199113010071", BORN, "1", "valid"),  # month 13
            ("000000199101010075", BORN, "1", "valid"),  # no such region
            ("36042619910101007", BORN, "1", "valid"),  # 17 characters
            (KNOWN, dt.date(1991, 1, 2), "1", "birth date"),
            (KNOWN, BORN, "2", "gender"),
        ],
    )
    def test_invalid_or_mismatching_numbers_are_refused(
        self, certno: str, brdy: dt.date, gend: str, why: str
    ) -> None:
        problem = certno_problem(certno, brdy, gend)
        assert problem is not None and why in problem
        with pytest.raises(errors.InvalidCertno) as exc:
            check_certno(certno, brdy, gend)
        assert (exc.value.status_code, exc.value.code) == (422, "INVALID_CERTNO")


class TestMake:
    @given(
        st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)),
        st.sampled_from("12"),
        st.integers(0, 10**9),
    )
    def test_every_generated_number_is_valid_for_its_person(
        self, brdy: dt.date, gend: str, seq: int
    ) -> None:
        certno = make_certno(brdy, gend, seq)
        assert certno_problem(certno, brdy, gend) is None
        assert certno_gender(certno) == gend

    def test_distinct_sequences_give_distinct_numbers(self) -> None:
        day = dt.date(1980, 5, 5)
        assert len({make_certno(day, "2", s) for s in range(CAPACITY)}) == CAPACITY


def test_synthetic_persons_get_valid_distinct_numbers_per_seed() -> None:
    from collections import Counter

    from medhtap.analytics.synthetic import _certno

    day, numbers = dt.date(1961, 7, 9), set()
    for seed in (1, 2, 907):
        born: Counter[tuple[dt.date, str]] = Counter()
        for _ in range(500):
            for gend in "12":
                c = _certno(seed, day, gend, born)
                assert certno_problem(c, day, gend) is None
                numbers.add(c)
        with pytest.raises(ValueError):
            _certno(seed, day, "1", born)
    assert len(numbers) == 3 * 500 * 2
