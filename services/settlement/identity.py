"""Resident id-card numbers (certno, GB 11643): checked with python-stdnum, never by hand.

Pure functions: `certno_problem` says what is wrong with a number for a person's birth date
and gender (None when nothing is); `check_certno` raises INVALID_CERTNO with it; `make_certno`
builds a valid number for test and synthetic data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from medhtap.services.settlement import errors

# District codes of Beijing, Tianjin and Shanghai that stdnum's table holds for every birth
# year, so a generated number passes `ric.validate` whatever the birth date.
REGIONS = (
    "110101", "110102", "110105", "110106", "110107", "110108", "110109",
    "120101", "120102", "120103", "120104", "120105", "120106",
    "310101", "310104", "310105", "310106", "310107", "310109", "310110",
)  # fmt: skip
ORDER_CODES = 500  # per gender: the 3-digit order code, odd for men, even for women
CAPACITY = len(REGIONS) * ORDER_CODES  # distinct numbers per birth date and gender
# gend as the platform codes it (GB/T 2261.1): 1 male, 2 female, 9 not stated.
MALE, FEMALE, NOT_STATED = "1", "2", "9"


def certno_gender(certno: str) -> str:
    """The gender the number encodes: the 17th digit, odd for men, even for women."""
    return MALE if int(certno[16]) % 2 else FEMALE


def certno_problem(certno: str, brdy: dt.date, gend: str) -> str | None:
    """What makes `certno` unfit for a person born on `brdy` of gender `gend`, or None.

    `ric.validate` checks length, digits, the check digit, the birth date and the region
    code. A person whose gender is not stated (9) has nothing to contradict."""
    try:
        number = ric.validate(certno)
    except ValidationError as exc:
        return f"not a valid resident id-card number: {exc}"
    if ric.get_birth_date(number) != brdy:
        return "the id-card number's birth date differs from brdy"
    if gend != NOT_STATED and certno_gender(number) != gend:
        return "the id-card number's gender differs from gend"
    return None


def check_certno(certno: str, brdy: dt.date, gend: str) -> None:
    problem = certno_problem(certno, brdy, gend)
    if problem is not None:
        raise errors.InvalidCertno(problem, field="certno")


def make_certno(brdy: dt.date, gend: str, seq: int) -> str:
    """A valid number for a person born on `brdy` of gender `gend` (9 gets a male number).
    Distinct `seq` in [0, CAPACITY) give distinct numbers for one birth date and gender;
    beyond that they repeat (`seq` is taken modulo CAPACITY)."""
    region, order = divmod(seq % CAPACITY, ORDER_CODES)
    code = order * 2 + (0 if gend == FEMALE else 1)
    body = f"{REGIONS[region]}{brdy:%Y%m%d}{code:03d}"
    # calc_check_digit takes the whole number: give it a placeholder 18th digit.
    return body + ric.calc_check_digit(body + "0")


# One sequence per process, from a random start: numbers made by `next_certno` in one
# process never repeat (up to CAPACITY per birth date and gender), and two processes
# rarely meet. `random` is not used: hypothesis reseeds it per example.
_SEQ = itertools.count(secrets.randbelow(CAPACITY))


def next_certno(brdy: dt.date, gend: str) -> str:
    """A fresh valid number for test and demo persons."""
    return make_certno(brdy, gend, next(_SEQ))
