"""infno -> the transaction that answers it, and the helpers every handler maps fields with.

A handler takes the open session, the message context and the envelope's `input`, renames
the national fields to the schema of the service it calls (one table per infno, in its
handler module and in the README), calls the service's unit in the session, and returns the
national answer. Money rules stay in the services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from medhtap.platform.db import WriteSession
from medhtap.platform.errors import ValidationFailed
from medhtap.services.settlement.units import Caller

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Ctx:
    caller: Caller
    fixmedins_code: str
    msgid: str


@dataclass(frozen=True)
class Outcome:
    """The national answer, and (for a write 2601 can reverse) what it takes to undo it:
    kept with the stored answer, never sent."""

    output: dict[str, Any]
    undo: dict[str, Any] | None = None


Handler = Callable[[WriteSession, Ctx, dict[str, Any]], Outcome]


@dataclass(frozen=True)
class Transaction:
    infno: str
    name: str
    run: Handler | None  # None: part of the interface, its service not built yet
    writes: bool
    reversible: bool = False
    fields: Mapping[str, str] = field(default_factory=dict)  # national -> ours (README)


TRANSACTIONS: dict[str, Transaction] = {}


def register(*txs: Transaction) -> None:
    for tx in txs:
        TRANSACTIONS[tx.infno] = tx


def section(inp: dict[str, Any], *names: str) -> dict[str, Any]:
    """The first of `names` present in `input` (e.g. 2401's `mdtrtinfo`, else `data`)."""
    for name in names:
        if name in inp:
            value = inp[name]
            if not isinstance(value, dict):
                raise ValidationFailed(f"input.{name} must be an object")
            return value
    raise ValidationFailed(f"input.{names[0]} is required")


def rows(inp: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = inp.get(name)
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ValidationFailed(f"input.{name} must be a list of objects")
    return value


def rename(src: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """{our name: value} of each mapped national field present; other fields are ignored
    (HIS messages carry many the platform does not use)."""
    return {ours: src[nat] for nat, ours in names.items() if nat in src and src[nat] is not None}


def build(model: type[M], values: dict[str, Any], names: Mapping[str, str], where: str) -> M:
    """Validate with the service's own schema; errors name the national fields."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        back = {ours: nat for nat, ours in names.items()}
        first = exc.errors()[0]
        loc = [str(back.get(str(p), p)) for p in first.get("loc", ())]
        at = ".".join([where, *loc])
        details = [
            {"loc": [where, *(back.get(str(p), p) for p in e.get("loc", ()))], "msg": e["msg"]}
            for e in exc.errors()[:20]
        ]
        raise ValidationFailed(f"{at}: {first['msg']}", errors=details) from exc


def text_field(src: dict[str, Any], name: str, where: str = "input.data") -> str:
    value = src.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValidationFailed(f"{where}.{name} is required (a string of 1-64 characters)")
    return value.strip()
