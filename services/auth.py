"""API-key authentication and roles.

Keys come from MEDHTAP_API_KEYS as "key:role[:institution]". An HIS key bound to an
institution may only touch that institution's visits; only `admin` sees unmasked
personal data. (A real deployment puts an identity provider in front; the roles stay.)
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header

from medhtap.platform.errors import Forbidden, Unauthorized
from medhtap.platform.settings import get_settings

ROLES = frozenset({"admin", "his", "analyst", "manager"})


@dataclass(frozen=True)
class Principal:
    role: str
    institution: str | None = None

    @property
    def name(self) -> str:
        return f"{self.role}:{self.institution}" if self.institution else self.role

    @property
    def sees_personal_data(self) -> bool:
        return self.role == "admin"

    def check_institution(self, fixmedins_code: str) -> None:
        if self.role == "his" and self.institution and self.institution != fixmedins_code:
            raise Forbidden("this API key belongs to another institution")


@lru_cache
def _keys(raw: str) -> dict[str, Principal]:
    keys: dict[str, Principal] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, role, *inst = item.split(":")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} in MEDHTAP_API_KEYS")
        keys[key] = Principal(role, inst[0] if inst else None)
    return keys


def authenticate(x_api_key: Annotated[str | None, Header()] = None) -> Principal:
    if not x_api_key:
        raise Unauthorized("missing X-API-Key header")
    for key, principal in _keys(get_settings().api_keys).items():
        if hmac.compare_digest(key, x_api_key):
            return principal
    raise Unauthorized("unknown API key")


def require(*roles: str):  # type: ignore[no-untyped-def]
    """Dependency: the caller must hold one of `roles` (admin always may)."""

    def dep(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(f"role {principal.role!r} may not call this endpoint")
        return principal

    return dep
