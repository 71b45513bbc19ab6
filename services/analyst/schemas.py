"""Request bodies of the analytics API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class SqlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=20_000, description="one SELECT / WITH ... SELECT")
    max_rows: int = Field(1000, ge=1, le=100_000, description="capped by the server setting")
    format: Literal["json", "csv"] = "json"


class RiskRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: dt.date | None = Field(None, alias="from", description="default: 90 days ago")
    date_to: dt.date | None = Field(None, alias="to", description="default: today")
    rules: list[str] | None = Field(None, description="rule codes; default all")


class RiskAlertCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = Field(description="why the alert is closed; kept in the audit log")
