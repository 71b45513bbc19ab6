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
from medhtap.services.settlement import repository as repo
from medhtap.services.settlement.schemas import AccumulatorOut, PersonIn, PersonOut
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
        acct_balc=row.acct_balc,
        accumulators=[
            AccumulatorOut(
                year=a.year,
                med_type=a.med_type,
                dedc_used=a.dedc_used,
                hifp_paid=a.hifp_paid,
                setl_cnt=a.setl_cnt,
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
        {"insutype": body.insutype, "acct_balc": str(body.acct_balc)},
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


create_person = Entry(create_person_unit, name="person_create")
get_person = Entry(get_person_unit, name="person_get", writes=False)
