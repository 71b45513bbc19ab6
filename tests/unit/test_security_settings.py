"""Settings refuse what is unsafe outside development (issue 11.5)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from medhtap.platform.settings import Settings

PROD = {"environment": "production", "analyst_password": SecretStr("s3cret-analyst")}


def test_his_keys_must_be_bound_to_an_institution_outside_development() -> None:
    with pytest.raises(ValidationError, match="HIS keys must be bound"):
        Settings(**PROD, api_keys="k-admin-1:admin,k-his-2:his")
    ok = Settings(**PROD, api_keys="k-admin-1:admin,k-his-2:his:H11010000001,k-an:analyst")
    assert ok.environment == "production"


def test_the_error_does_not_quote_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**PROD, api_keys="very-secret-his-key:his")
    assert "very" not in str(info.value)


def test_development_allows_the_unbound_dev_his_key() -> None:
    assert "dev-his-key:his" in Settings(environment="development").api_keys
