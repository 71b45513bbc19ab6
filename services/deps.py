"""FastAPI dependencies shared by all routers: engines, capabilities, the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from medhtap.platform.capabilities import Capabilities
from medhtap.platform.settings import Settings
from medhtap.services.auth import Principal, require


@dataclass
class Runtime:
    """Process-wide state, built once in the app lifespan."""

    settings: Settings
    write_engine: Engine
    read_engine: Engine  # the SELECT-only analyst account
    capabilities: Capabilities


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
HisCaller = Annotated[Principal, Depends(require("his"))]
AdminCaller = Annotated[Principal, Depends(require())]
AnalystCaller = Annotated[Principal, Depends(require("analyst", "manager"))]
ManagerCaller = Annotated[Principal, Depends(require("manager", "analyst"))]
AnyCaller = Annotated[Principal, Depends(require("his", "analyst", "manager"))]
