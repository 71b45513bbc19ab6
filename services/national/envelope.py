"""The national platform's envelope: the request every HIS sends and the answer it expects.

Field names are the national ones. The envelope's own fields are checked here; what sits in
`input` is each transaction's business (see registry.py and the handler modules)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medhtap.services.national.errors import InvalidMsgid

INFNO = r"^[0-9]{4}$"
CODE = r"^[A-Za-z0-9_.-]{1,32}$"
MSGID_TAIL = re.compile(r"^([0-9]{14})([0-9]{4})$")
TIME_FORMAT = "%Y%m%d%H%M%S%f"  # national answers: yyyyMMddHHmmssSSS


class EnvelopeIn(BaseModel):
    """What the HIS sends. Unknown envelope fields (signatures, versions to come) are
    ignored, as the national platform does."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    infno: str = Field(pattern=INFNO)
    msgid: str = Field(min_length=19, max_length=64)
    fixmedins_code: str = Field(pattern=CODE)
    input: dict[str, Any]
    mdtrtarea_admvs: str | None = Field(None, max_length=16)
    insuplc_admdvs: str | None = Field(None, max_length=16)
    recer_sys_code: str | None = Field(None, max_length=32)
    infver: str | None = Field(None, max_length=16)
    opter_type: str | None = Field(None, max_length=8)
    opter: str | None = Field(None, max_length=64)
    opter_name: str | None = Field(None, max_length=64)
    inf_time: str | None = Field(None, max_length=32)
    fixmedins_name: str | None = Field(None, max_length=128)
    sign_no: str | None = Field(None, max_length=64)

    @field_validator("input", mode="before")
    @classmethod
    def _input_object(cls, value: object) -> object:
        if value is None:
            raise ValueError("input is required: {'data': {...}} or the transaction's lists")
        return value

    @model_validator(mode="after")
    def _msgid_shape(self) -> EnvelopeIn:
        check_msgid(self.msgid, self.fixmedins_code)
        return self


def check_msgid(msgid: str, fixmedins_code: str) -> None:
    """institution code + yyyyMMddHHmmss + 4-digit sequence, unique per institution."""
    tail = msgid[len(fixmedins_code) :] if msgid.startswith(fixmedins_code) else None
    m = MSGID_TAIL.match(tail) if tail is not None else None
    if m is None:
        raise InvalidMsgid(
            "msgid must be fixmedins_code + yyyyMMddHHmmss + a 4-digit sequence",
            msgid=msgid,
        )
    try:
        dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise InvalidMsgid("msgid holds no valid yyyyMMddHHmmss time", msgid=msgid) from exc


class EnvelopeOut(BaseModel):
    """Every answer of the envelope endpoint (HTTP 200), success or not."""

    infcode: int = Field(description="0 success, -1 failure")
    inf_refmsgid: str = Field(description="the platform's id of this message")
    refmsg_time: str = Field(description="when the message was received (yyyyMMddHHmmssSSS)")
    respond_time: str = Field(description="when the answer was made (yyyyMMddHHmmssSSS)")
    err_msg: str | None = Field(description="on failure: 'CODE: message' (the platform's code)")
    output: dict[str, Any] = Field(
        description="the transaction's answer; on failure {'err_code', 'details'}"
    )


def national_time(at: dt.datetime) -> str:
    return at.strftime(TIME_FORMAT)[:17]


EXAMPLE = {
    "infno": "2207",
    "msgid": "H11010000001202603010930000001",
    "mdtrtarea_admvs": "110100",
    "insuplc_admdvs": "110100",
    "recer_sys_code": "FSI",
    "infver": "V1.0",
    "opter_type": "1",
    "opter": "001",
    "opter_name": "cashier",
    "inf_time": "2026-03-01 09:30:00",
    "fixmedins_code": "H11010000001",
    "fixmedins_name": "City First Hospital",
    "sign_no": "",
    "input": {"data": {"mdtrt_id": "<mdtrt_id>", "psn_no": "<psn_no>", "acct_used_flag": "1"}},
}
