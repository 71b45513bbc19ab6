"""Request and response bodies of the settlement API.

Money is Decimal end to end. Input is a decimal string matching the pattern its OpenAPI
schema documents (so "" or "1e3" are refused, as documented), or a whole JSON integer; a
fractional JSON number is refused, since a binary float cannot be trusted to carry cents.
Output is a string with exactly two decimals, so no client parses a float.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
)

from medhtap.services.settlement import rules
from medhtap.services.settlement.rules import CENT, ZERO, money

RATIO_Q = Decimal("0.0001")


def _naive(value: dt.datetime) -> dt.datetime:
    # The schema stores local wall-clock DATETIME; an offset from the client is converted.
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def _sane_year(value: dt.datetime) -> dt.datetime:
    if not 2000 <= value.year <= 2099:
        raise ValueError("time must be within the years 2000..2099")
    return value


# A time of the years 2000-2099 as the HIS writes it: "T" or " " between date and time,
# seconds optional, an optional offset (converted to local time). The pattern is the
# contract (checked as written, before any offset is applied), so the document says exactly
# which strings pass; [0-9], not \d, which matches other scripts' digits in Python.
_DATE = (
    r"(?:20[0-9]{2}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)|20(?:0[048]|[2468][048]|[13579][26])-02-29)"
)
TIME_PATTERN = (
    rf"^{_DATE}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,6}})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_TIME = re.compile(TIME_PATTERN)


def _time_as_written(value: object) -> object:
    if isinstance(value, str) and not _TIME.match(value):
        raise ValueError("expected a time of 2000-2099 like '2026-03-01T09:30:00'")
    if isinstance(value, int | float):  # no epoch numbers: the document says string
        raise ValueError("send the time as a string like '2026-03-01T09:30:00'")
    return value


Timestamp = Annotated[
    dt.datetime,
    BeforeValidator(_time_as_written),
    AfterValidator(_sane_year),
    AfterValidator(_naive),
    WithJsonSchema(
        {"type": "string", "pattern": TIME_PATTERN, "example": "2026-03-01T09:30:00"},
        mode="validation",
    ),
]

# The schema stores local wall-clock DATETIME: answers carry no offset, so not RFC 3339.
LocalTimeOut = Annotated[
    dt.datetime,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$",
            "description": "the platform's local wall-clock time, without offset",
            "example": "2026-03-01T09:30:00",
        },
        mode="serialization",
    ),
]

_MONEY_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "example": "12.30"}
)
MoneyOut = Annotated[
    Decimal, PlainSerializer(lambda d: str(money(d)), return_type=str), _MONEY_SCHEMA
]
RatioOut = Annotated[
    Decimal,
    PlainSerializer(lambda d: str(d.quantize(RATIO_Q)), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{4}$", "example": "0.8000"}),
]
QtyOut = RatioOut  # DECIMAL(16,4) columns: quantity and unit price


def _decimal_in(pattern: str, minimum: int, maximum: int, example: str) -> tuple[Any, ...]:
    """A decimal input: a string matching `pattern` or a JSON integer in [minimum, maximum].
    The pattern bounds digits and decimals, so every string it documents is accepted and
    every other string refused; the range checks stay on the Field."""
    regex = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not regex.match(value):
            raise ValueError(f"expected a decimal string matching {pattern}, e.g. {example!r}")
        if isinstance(value, float):  # JSON Schema's integer includes 334.0; 334.5 is refused
            if not value.is_integer():
                raise ValueError(f"send a fractional amount as a string, e.g. {example!r}")
            return int(value)
        return value

    schema = {
        "anyOf": [
            {"type": "string", "pattern": pattern, "example": example},
            {"type": "integer", "minimum": minimum, "maximum": maximum},
        ]
    }
    return BeforeValidator(check), WithJsonSchema(schema, mode="validation")


# Inputs: bounded so no line can overflow DECIMAL(16,2) and absurd values are refused.
Quantity = Annotated[
    Decimal,
    Field(gt=0, le=Decimal("10000"), decimal_places=4),
    *_decimal_in(  # > 0: "1".."9999.9999", or "0." and a non-zero fraction of 1-4 digits
        r"^(?:[1-9][0-9]{0,3}(?:\.[0-9]{1,4})?|0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9]))$",
        1,
        10_000,
        "2.5",
    ),
]
UnitPrice = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1000000"), decimal_places=4),
    *_decimal_in(r"^[0-9]{1,6}(?:\.[0-9]{1,4})?$", 0, 1_000_000, "35.50"),
]
Balance = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("100000000"), decimal_places=2),
    *_decimal_in(r"^[0-9]{1,8}(?:\.[0-9]{1,2})?$", 0, 100_000_000, "500.00"),
]
SignedMoney = Annotated[
    Decimal,
    Field(ge=Decimal("-1e12"), le=Decimal("1e12"), decimal_places=2),
    *_decimal_in(r"^-?[0-9]{1,12}(?:\.[0-9]{1,2})?$", -(10**12), 10**12, "-12.30"),
]

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
# Inputs are stripped, so free text must hold a character that is not (Unicode) white space;
# the class is spelled out because `\s` differs between regex engines.
TEXT = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
PRINTABLE = r"^[!-~]+$"  # identifiers: printable ASCII without space


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- 1101 persons -------------------------------------------------------------------------


AssistanceCategory = Annotated[
    Literal["none", "dibao", "tekun"],
    Field(description="medical assistance (医疗救助): none, dibao (低保) or tekun (特困)"),
]


class PersonIn(_In):
    psn_no: Code | None = Field(None, description="generated when omitted")
    certno: str = Field(pattern=r"^[0-9]{17}[0-9X]$", description="18-character id-card number")
    psn_name: str = Field(min_length=1, max_length=64, pattern=TEXT)
    gend: Literal["1", "2", "9"]
    brdy: dt.date
    insutype: Literal["310", "390"]
    admdvs: str = Field(pattern=r"^[0-9]{6}$")
    acct_balc: Balance = Decimal("0.00")
    assistance_category: AssistanceCategory = "none"


class PersonUpdateIn(_In):
    assistance_category: AssistanceCategory


class AccumulatorOut(BaseModel):
    year: int
    med_type: str
    dedc_used: MoneyOut
    hifp_paid: MoneyOut
    setl_cnt: int
    inscp_selfpay: MoneyOut = Field(description="in-scope amount the basic fund did not pay")
    secondary_paid: MoneyOut = Field(description="hifob_pay / hifmi_pay paid this year")
    assistance_paid: MoneyOut = Field(description="maf_pay paid this year")


class PersonOut(BaseModel):
    """What a role sees is decided in services/privacy.py (minimum necessary)."""

    psn_no: str
    certno: str = Field(description="masked (first 6 + last 4) unless the caller is an admin")
    psn_name: str = Field(description="full for admin and HIS; surname + '*' for managers")
    gend: str
    brdy: dt.date | None = Field(description="full birth date for admin and HIS, else null")
    birth_year: int | None = Field(None, description="the birth year (every role but admin)")
    insutype: str
    admdvs: str
    psn_status: str
    assistance_category: str
    acct_balc: MoneyOut
    accumulators: list[AccumulatorOut] = Field(description="year to date, both visit kinds")


# ---- 2201/2401 visits, 2204/2205 fees ------------------------------------------------------


def _alias(*names: str) -> AliasChoices:
    """The national platform's field name first, then the plain-English names it is
    commonly sent as (responses always use the platform's names)."""
    return AliasChoices(*names)


def _national_code(value: str) -> str:
    return rules.med_type(value).code


# National med_type codes (rules.MED_TYPES); the words the API took before are still
# accepted and stored as their code (outpatient 11, inpatient 21).
MedTypeIn = Annotated[
    Literal["11", "14", "21", "41", "outpatient", "inpatient"],
    AfterValidator(_national_code),
    Field(
        description="11 general outpatient, 14 chronic/special-disease outpatient, "
        "21 general inpatient, 41 pharmacy purchase ('outpatient' = 11, 'inpatient' = 21)"
    ),
]


class VisitIn(_In):
    psn_no: Code
    fixmedins_code: Code = Field(validation_alias=_alias("fixmedins_code", "institution_code"))
    med_type: MedTypeIn = Field(validation_alias=_alias("med_type", "kind"))
    dept_name: str = Field(
        min_length=1,
        max_length=64,
        pattern=TEXT,
        validation_alias=_alias("dept_name", "department"),
    )
    begntime: Timestamp = Field(validation_alias=_alias("begntime", "begin_time"))
    main_diag_code: str = Field(
        min_length=3,
        max_length=16,
        pattern=PRINTABLE,
        validation_alias=_alias("main_diag_code", "main_diagnosis"),
    )


class VisitOut(BaseModel):
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    med_type: str
    dept_name: str
    begntime: LocalTimeOut
    main_diag_code: str
    vis_status: str


class FeeLineIn(_In):
    feedetl_sn: str = Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_.-]+$")
    item_code: str = Field(min_length=1, max_length=64, pattern=PRINTABLE)
    cnt: Quantity = Field(validation_alias=_alias("cnt", "quantity"))
    pric: UnitPrice = Field(validation_alias=_alias("pric", "unit_price"))
    fee_ocur_time: Timestamp = Field(validation_alias=_alias("fee_ocur_time", "time"))


class FeeBatchIn(_In):
    lines: list[FeeLineIn] = Field(min_length=1, max_length=500)


class FeeLineOut(BaseModel):
    feedetl_sn: str
    item_code: str
    cnt: QtyOut
    pric: QtyOut
    det_item_fee_sumamt: MoneyOut
    fee_ocur_time: LocalTimeOut
    fee_status: str


class FeeBatchOut(BaseModel):
    mdtrt_id: str
    stored: int
    lines: list[FeeLineOut]


class FeeRevokeOut(BaseModel):
    mdtrt_id: str
    feedetl_sn: str
    fee_status: str


# ---- 2206/2207/2208 settlement -------------------------------------------------------------


class SettleIn(_In):
    use_account: StrictBool = False


class LineSplitOut(BaseModel):
    feedetl_sn: str
    item_code: str
    amount: MoneyOut
    fulamt_ownpay_amt: MoneyOut
    overlmt_selfpay: MoneyOut
    preselfpay_amt: MoneyOut
    inscp_scp_amt: MoneyOut
    ownpay_reason: str | None = Field(description="class_c, gender or age when wholly self-paid")


class SetlDetailOut(BaseModel):
    """One fund's part of a settlement (setldetail)."""

    fund_pay_type: str = Field(
        description="310100/390100 basic, 330100/390200 secondary, "
        "610100 medical assistance, 310200 employee account (not in fund_pay_sumamt)"
    )
    fund_pay_type_name: str
    inscp_scp_amt: MoneyOut = Field(description="the base this fund was computed on")
    crt_payb_lmt_amt: MoneyOut | None = Field(
        description="the fund's limit still open before this settlement"
    )
    fund_payamt: MoneyOut
    setl_proc_info: str = Field(description="how the amount was computed")


class SettlementOut(BaseModel):
    setl_id: str | None = Field(description="null on a pre-settlement (2206)")
    setl_type: str = "normal"
    orig_setl_id: str | None = None
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    insutype: str
    med_type: str
    hosp_lv: int
    policy_id: int
    setl_time: LocalTimeOut | None
    medfee_sumamt: MoneyOut
    fulamt_ownpay_amt: MoneyOut
    overlmt_selfpay: MoneyOut
    preselfpay_amt: MoneyOut
    inscp_scp_amt: MoneyOut
    act_pay_dedc: MoneyOut
    hifp_pay: MoneyOut
    pool_prop_selfpay: RatioOut
    psn_part_amt: MoneyOut
    acct_pay: MoneyOut
    psn_cash_pay: MoneyOut
    hifob_pay: MoneyOut = Field(ZERO, description="employees' large-amount subsidy")
    hifmi_pay: MoneyOut = Field(ZERO, description="residents' critical-illness insurance")
    maf_pay: MoneyOut = Field(ZERO, description="medical assistance")
    fund_pay_sumamt: MoneyOut = Field(
        ZERO, description="hifp_pay + hifob_pay + hifmi_pay + maf_pay"
    )
    hosp_part_amt: MoneyOut = Field(ZERO, description="borne by the hospital")
    acct_balc_after: MoneyOut
    setldetail: list[SetlDetailOut] = Field(default_factory=list)
    lines: list[LineSplitOut] = Field(default_factory=list)
    selfpay_lines: list[LineSplitOut] = Field(
        default_factory=list, description="lines paid wholly by the person, with the reason"
    )
    replay: bool = Field(False, description="true when this is the stored answer to a retry")


# ---- 3201/3202 reconciliation --------------------------------------------------------------


class Totals(BaseModel):
    setl_cnt: int
    medfee_sumamt: MoneyOut
    hifp_pay: MoneyOut
    acct_pay: MoneyOut
    fund_pay_sumamt: MoneyOut | None = Field(None, description="null: not sent, not compared")
    hifob_pay: MoneyOut | None = Field(None, description="the platform's figures per fund")
    hifmi_pay: MoneyOut | None = None
    maf_pay: MoneyOut | None = None


class ReconcileIn(_In):
    fixmedins_code: Code
    stmt_date: dt.date
    setl_cnt: int = Field(ge=0, le=10_000_000)
    medfee_sumamt: SignedMoney
    hifp_pay: SignedMoney
    acct_pay: SignedMoney
    fund_pay_sumamt: SignedMoney | None = Field(None, description="compared when sent")


class ReconcileOut(BaseModel):
    fixmedins_code: str
    stmt_date: dt.date
    result: Literal["match", "mismatch"]
    institution: Totals
    platform: Totals = Field(
        description="every settlement and reversal row timed on stmt_date; reversal rows "
        "carry negated amounts, so a same-day cancel nets to zero in the sums"
    )


class DetailItemIn(_In):
    setl_id: str = Field(min_length=1, max_length=40, pattern=PRINTABLE)
    medfee_sumamt: SignedMoney
    hifp_pay: SignedMoney
    acct_pay: SignedMoney
    fund_pay_sumamt: SignedMoney | None = Field(None, description="compared when sent")


class ReconcileDetailIn(_In):
    fixmedins_code: Code
    stmt_date: dt.date
    items: list[DetailItemIn] = Field(max_length=20_000)


class DetailAmounts(BaseModel):
    medfee_sumamt: MoneyOut
    hifp_pay: MoneyOut
    acct_pay: MoneyOut
    fund_pay_sumamt: MoneyOut | None = None


class DetailDiff(BaseModel):
    setl_id: str
    institution: DetailAmounts
    platform: DetailAmounts


class ReconcileDetailOut(BaseModel):
    fixmedins_code: str
    stmt_date: dt.date
    result: Literal["match", "mismatch"]
    platform_cnt: int
    institution_cnt: int
    missing_on_platform: list[str]
    missing_at_institution: list[str]
    differing: list[DetailDiff]


__all__ = ["CENT"]
