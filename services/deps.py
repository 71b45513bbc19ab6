"""FastAPI dependencies shared by all routers: engines, capabilities, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from medhtap.platform.capabilities import Capabilities
from medhtap.platform.settings import Settings
from medhtap.services.analyst.admission import Admission
from medhtap.services.auth import Principal, require


@dataclass
class Runtime:
    """Process-wide state, built once in the app lifespan."""

    settings: Settings
    write_engine: Engine
    read_engine: Engine  # the SELECT-only analyst account
    capabilities: Capabilities
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.settings)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# `admin` passes every check. Analysts read masked data; a person's profile and rule runs
# (which write alerts) are for fund managers.
AnalystCaller = Annotated[Principal, Depends(require("analyst", "manager"))]
ManagerCaller = Annotated[Principal, Depends(require("manager"))]


async def analytic_slot(runtime: RuntimeDep) -> AsyncIterator[None]:
    """Router dependency of the analytic routes: one admission slot per request."""
    async with runtime.admission.slot():
        yield
