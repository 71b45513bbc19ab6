"""Small pure helpers of the settlement service."""

from __future__ import annotations

from medhtap.services.auth import Principal
from medhtap.services.privacy import mask_certno
from medhtap.services.settlement.idempotency import idempotency_scope, request_hash
from medhtap.services.settlement.units import Caller
from medhtap.services.settlement.visits import normalise_icd10


def test_scope_fits_the_column_even_for_long_keys_and_bound_institutions() -> None:
    caller = Caller(Principal("his", "H" * 32))
    short = idempotency_scope("2207", caller, "k1")
    long = idempotency_scope("2207", caller, "k" * 128)
    assert short == f"2207:his:{'H' * 32}:k1"
    assert len(long) <= 160 and long != idempotency_scope("2207", caller, "k" * 127 + "j")
    assert idempotency_scope("2208", caller, "k1") != short


def test_mask_keeps_first_six_and_last_four() -> None:
    assert mask_certno("110101199003071234") == "110101********1234"


def test_icd10_codes_are_normalised_to_the_dotted_form() -> None:
    assert normalise_icd10(" e119 ") == "E11.9"
    assert normalise_icd10("E11.9") == "E11.9" and normalise_icd10("I10") == "I10"


def test_request_hash_is_canonical() -> None:
    assert request_hash("2207", a=1, b=True) == request_hash("2207", b=True, a=1)
    assert request_hash("2207", a=1) != request_hash("2208", a=1)
