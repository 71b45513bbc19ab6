"""1101 persons: registration and the person read with year-to-date accumulators."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from medhtap.platform.db import WriteSession
from medhtap.platform.tx import error_code
from medhtap.services.privacy import person_view
from medhtap.services.settlement import errors
from medhtap.services.settlement import fund_repository as fund_repo
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import (
    AccumulatorOut,
    PersonIn,
    PersonOut,
    PersonUpdateIn,
)
from medhtap.services.settlement.units import DUPLICATE_KEY, Caller, Entry, new_id


def person_out(session: WriteSession, row: Row[Any], caller: Caller, year: int) -> PersonOut:
    accs = repo.accumulators(session, row.psn_no, year)
    return PersonOut(
        psn_no=row.psn_no,
        **person_view(caller.principal, row),  # per role: services/privacy.py
        gend=row.gend,
        insutype=row.insutype,
        admdvs=row.admdvs,
        psn_status=row.psn_status,
        assistance_category=row.assistance_category,
        acct_balc=row.acct_balc,
        accumulators=[
            AccumulatorOut(
                year=a.year,
                med_type=a.med_type,
                dedc_used=a.dedc_used,
                hifp_paid=a.hifp_paid,
                setl_cnt=a.setl_cnt,
                inscp_selfpay=a.inscp_selfpay,
                secondary_paid=a.secondary_paid,
                assistance_paid=a.assistance_paid,
            )
            for a in accs
        ],
    )


def create_person_unit(session: WriteSession, caller: Caller, body: PersonIn) -> PersonOut:
    # The existence read is only a friendly early answer: the unique keys on psn_no and
    # certno decide (a concurrent registration gets 1062 below). The last read is our own row.
    psn_no = body.psn_no or new_id()
    if repo.person_exists(session, psn_no, body.certno):
        raise errors.PersonExists("a person with this psn_no or certno exists", psn_no=psn_no)
    values = body.model_dump(exclude={"psn_no"}) | {"psn_no": psn_no, "psn_status": "active"}
    try:
        repo.insert_person(session, values)
    except IntegrityError as exc:  # a concurrent registration of the same person
        if error_code(exc) == DUPLICATE_KEY:
            raise errors.PersonExists("a person with this psn_no or certno exists") from exc
        raise
    repo.audit(
        session,
        caller.actor,
        "person_create",
        "insured_person",
        psn_no,
        {
            "insutype": body.insutype,
            "acct_balc": str(body.acct_balc),
            "assistance_category": body.assistance_category,
        },
        caller.request_id,
    )
    row = repo.get_person(session, psn_no)
    assert row is not None
    return person_out(session, row, caller, dt.date.today().year)


def get_person_unit(session: WriteSession, caller: Caller, psn_no: str, year: int) -> PersonOut:
    row = repo.get_person(session, psn_no)
    if row is None:
        raise errors.PersonNotFound(f"no insured person {psn_no!r}")
    return person_out(session, row, caller, year)


def update_person_unit(
    session: WriteSession, caller: Caller, psn_no: str, body: PersonUpdateIn
) -> PersonOut:
    """Change the person's assistance category. Under the person's row lock, like every
    settlement of the person: a settlement sees the category before or after, never half."""
    row = repo.get_person(session, psn_no, lock=True)
    if row is None:
        raise errors.PersonNotFound(f"no insured person {psn_no!r}")
    fund_repo.set_assistance_category(session, psn_no, body.assistance_category)
    repo.audit(
        session,
        caller.actor,
        "person_update",
        "insured_person",
        psn_no,
        {"assistance_category": [row.assistance_category, body.assistance_category]},
        caller.request_id,
    )
    updated = repo.get_person(session, psn_no)
    assert updated is not None
    return person_out(session, updated, caller, dt.date.today().year)


create_person = Entry(create_person_unit, name="person_create")
get_person = Entry(get_person_unit, name="person_get", writes=False)
update_person = Entry(update_person_unit, name="person_update")
