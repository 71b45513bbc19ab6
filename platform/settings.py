"""Runtime settings, read from MEDHTAP_* environment variables (and .env)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
DEV_ADMIN_KEY = "dev-admin-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDHTAP_", env_file=".env", extra="ignore")

    environment: str = "development"
    # An existing cluster (TiDB Cloud, tiup, Operator). Empty: the launcher decides.
    dsn: str = ""
    database: str = "medhtap"
    host: str = "127.0.0.1"
    port: int = 4000
    status_port: int = 10080
    # The status port has no authentication and serves raw rows (/mvcc/key/...): loopback
    # unless an operator binds it elsewhere on purpose (and firewalls it).
    status_host: str = "127.0.0.1"
    user: str = "root"
    password: SecretStr = SecretStr("")
    data_dir: Path = Path.home() / ".local" / "share" / "medhtap" / "tidb"

    pool_size: int = 20
    max_overflow: int = 20
    pool_recycle_s: int = 1800
    # The write engine pings a pooled connection only after it sat idle this long (a ping
    # per checkout was one round trip per settlement); platform/db.py `ping_when_idle`.
    pool_ping_idle_s: float = Field(2.0, ge=0)
    # Reference data of the money path (institution level, benefit policy, fund policy and
    # segments) is cached per process this many seconds, keyed by the visit day: a policy
    # change takes effect within this time (services/settlement/reference.py). 0: no cache.
    reference_cache_s: float = Field(5.0, ge=0)
    # Money paths run pessimistic; TiDB's default, stated so a cluster default cannot change it.
    txn_mode: str = "pessimistic"
    txn_max_attempts: int = 5

    # Read-only analyst account (created by a migration; owns SELECT on v_* views only).
    analyst_user: str = "medhtap_analyst"
    analyst_password: SecretStr = SecretStr("analyst-dev-password")
    analyst_max_execution_ms: int = 30_000
    analyst_max_rows: int = 10_000
    analyst_mem_quota_bytes: int = 1 << 30
    # Threads one analytic statement may use (TiDB's defaults are 5 executor workers and 15
    # coprocessor tasks in flight): on the local server analysts share two cores with
    # settlement; on a cluster their scans run on TiFlash (and in the analyst resource group).
    analyst_executor_concurrency: int = Field(2, ge=1, le=64)
    analyst_scan_concurrency: int = Field(2, ge=1, le=256)
    # Admission control for analytic routes: at most this many run at once, at most
    # `analyst_queue_max` wait (each up to `analyst_queue_wait_s`); the rest get 429.
    analyst_max_concurrent: int = 4
    analyst_queue_max: int = 16
    analyst_queue_wait_s: float = 10.0
    analyst_pool_timeout_s: float = 5.0  # waiting for a read connection; then 503
    retry_after_s: int = 2  # the Retry-After of 429/503 answers
    # The risk watcher (API process): the rules over what settled since its watermark,
    # every this many seconds (analytics/watch.py). 0 turns it off.
    risk_watch_s: float = 2.0
    # The analyst watchdog (API process, root engine): direct analyst sessions over the
    # time/memory limits are interrupted, lock holders and split tables raise an alarm.
    # 0 turns it off.
    watchdog_interval_s: float = 1.0
    watchdog_region_check_s: float = 30.0
    # Money path: how long a settlement waits for a row lock held by someone else (TiDB
    # default 50 s) before the attempt fails and is retried, then answered 503.
    # 5 s: long enough that 50 settlements queued on one person's row do not time out on a
    # loaded 2-core host; an analyst-held lock still ends in 503 + Retry-After, never a hang.
    lock_wait_timeout_s: int = 5
    # /readyz names a HIS source whose last applied transaction was this far behind the source.
    sync_lag_max_s: float = 30.0
    # Direct analyst sessions that sit idle inside a transaction are closed by the server
    # after this long (set at login by init_connect, migration 0010): releases forgotten
    # FOR UPDATE locks through the server's own clean close, never through KILL.
    analyst_idle_txn_timeout_s: int = 30
    # Idempotency records (2207/2208 answers) are kept this many days, then deleted by
    # TiDB's TTL job or the purge (services/settlement/expiry.py); a key re-sent after that
    # is a new request.
    idempotency_ttl_days: int = Field(30, ge=1, le=36_500)

    # API keys: "key:role[:institution]" comma separated. Roles: admin, his, analyst, manager.
    api_keys: str = (
        f"{DEV_ADMIN_KEY}:admin,dev-his-key:his,dev-analyst-key:analyst,dev-manager-key:manager"
    )

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment != "development":
            if DEV_ADMIN_KEY in self.api_keys or "dev-" in self.api_keys:
                raise ValueError("MEDHTAP_API_KEYS still holds development keys")
            if self.analyst_password.get_secret_value() == "analyst-dev-password":
                raise ValueError("MEDHTAP_ANALYST_PASSWORD is the development default")
            entries = [p.strip().split(":") for p in self.api_keys.split(",") if p.strip()]
            unbound = [n + 1 for n, e in enumerate(entries) if e[1:2] == ["his"] and len(e) < 3]
            if unbound:
                # an HIS key without an institution could touch every hospital's visits
                raise ValueError(
                    f"MEDHTAP_API_KEYS entries {unbound}: HIS keys must be bound to an "
                    "institution (key:his:FIXMEDINS_CODE)"
                )
        return self

    def server_url(self, *, user: str | None = None, password: str | None = None) -> str:
        """URL of the server without a database (for CREATE DATABASE and probes)."""
        if self.dsn:
            return self.dsn.rsplit("/", 1)[0] + "/"
        u = user or self.user
        p = self.password.get_secret_value() if password is None else password
        return f"mysql+pymysql://{u}:{p}@{self.host}:{self.port}/"

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        if self.dsn and user is None:
            return self.dsn
        return self.server_url(user=user, password=password) + self.database

    def analyst_url(self) -> str:
        base = self.server_url().split("://", 1)[1].split("@", 1)[1]
        pw = self.analyst_password.get_secret_value()
        return f"mysql+pymysql://{self.analyst_user}:{pw}@{base}{self.database}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
