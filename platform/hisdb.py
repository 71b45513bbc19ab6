"""Start a hospital's own database (HIS) for development and tests: `medhtap his up`.

A real MariaDB from Debian's `mariadb-server`, run from our own data directory and port (the
package's system service is never used), configured the way a sync source must be:
row-based binlog with full row images and full row metadata (so a binlog reader needs no
schema look-ups), GTIDs (always on in MariaDB), a unique server id per source, and a
replication account holding only what a snapshot and a binlog stream need.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Say = Callable[[str], None]
SCHEMA_SQL = Path(__file__).resolve().parents[1] / "services" / "his" / "schema.sql"


class HisSettings(BaseSettings):
    """One HIS source; `MEDHTAP_HIS_*` variables. A second source differs in name and port."""

    model_config = SettingsConfigDict(env_prefix="MEDHTAP_HIS_", extra="ignore")

    name: str = "his1"
    host: str = "127.0.0.1"
    port: int = 3307
    database: str = "his"
    root_password: SecretStr = SecretStr("his-root-dev-password")
    repl_user: str = "medhtap_repl"
    repl_password: SecretStr = SecretStr("his-repl-dev-password")
    base_dir: Path = Path.home() / ".local" / "share" / "medhtap" / "his"

    @property
    def dir(self) -> Path:
        return self.base_dir / self.name

    @property
    def server_id(self) -> int:
        # Unique per source and never 0 (a binlog reader announces itself with another id).
        return 1000 + self.port

    def connect(self, *, database: str | None = None, repl: bool = False) -> pymysql.Connection:
        user, pw = (self.repl_user, self.repl_password) if repl else ("root", self.root_password)
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=pw.get_secret_value(),
            database=database,
            charset="utf8mb4",
            connect_timeout=5,
            autocommit=True,
        )


@dataclass(frozen=True)
class HisRunning:
    name: str
    port: int
    pid: int | None
    version: str


def mariadb_binaries() -> tuple[str, str] | None:
    """mariadbd and mariadb-install-db from Debian's mariadb-server (/usr/sbin may be off PATH)."""
    path = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"))
    server = shutil.which("mariadbd", path=path)
    install = shutil.which("mariadb-install-db", path=path)
    return (server, install) if server and install else None


def _pid_file(h: HisSettings) -> Path:
    return h.dir / "mariadbd.pid"


def _version(h: HisSettings) -> str | None:
    try:
        conn = h.connect()
    except (pymysql.err.OperationalError, OSError):
        return None
    with conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
        return str(row[0]) if row else None


def _server_cmd(h: HisSettings, server: str) -> list[str]:
    d = h.dir
    return [
        server,
        "--no-defaults",
        f"--datadir={d / 'data'}",
        f"--port={h.port}",
        f"--bind-address={h.host}",
        f"--socket={d / 'mariadbd.sock'}",
        f"--pid-file={_pid_file(h)}",
        f"--log-error={d / 'mariadbd.err'}",
        f"--server-id={h.server_id}",
        f"--log-bin={d / 'data' / 'binlog'}",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--binlog-row-metadata=FULL",
        "--gtid-strict-mode=1",
        "--log-slave-updates=0",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        "--innodb-flush-log-at-trx-commit=1",
        "--sync-binlog=1",
        "--skip-name-resolve",
        *(["--user=root"] if os.geteuid() == 0 else []),  # mariadbd refuses root otherwise
    ]


INSTALL_ATTEMPTS = 2


def _install(install: str, data: Path) -> None:
    """mariadb-install-db into an empty `data`. It failed once in a full test run on a busy
    host and passed on its own: the second attempt starts from an empty directory again, and
    a failure that stays says what the tool printed (it used to be a bare exit status)."""
    cmd = [
        install,
        "--no-defaults",
        f"--datadir={data}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        *(["--user=root"] if os.geteuid() == 0 else []),
    ]
    for attempt in range(1, INSTALL_ATTEMPTS + 1):
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            return
        tail = (done.stderr or done.stdout).strip()[-2000:]
        if attempt == INSTALL_ATTEMPTS:
            raise RuntimeError(
                f"mariadb-install-db exited with {done.returncode} {attempt} times: {tail}"
            )
        time.sleep(1.0)


def up(h: HisSettings, say: Say = print) -> HisRunning:
    version = _version(h)
    if version:
        say(f"HIS {h.name} already answers on {h.host}:{h.port}: {version}")
        return HisRunning(h.name, h.port, _read_pid(h), version)
    bins = mariadb_binaries()
    if bins is None:
        raise RuntimeError(
            "mariadb-server is not installed (Debian: apt-get install mariadb-server)"
        )
    server, install = bins
    data = h.dir / "data"
    # Bootstrapped once (root password, schema, accounts); a failed bootstrap is redone.
    fresh = not (h.dir / "bootstrapped").exists()
    if not (data / "mysql").exists():
        say(f"initialising HIS {h.name} data directory {data}")
        _install(install, data)
    with open(h.dir / "mariadbd.stdout", "ab") as out:
        proc = subprocess.Popen(
            _server_cmd(h, server), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while (version := _first_answer(h, fresh)) is None:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {proc.returncode}; see {h.dir}/mariadbd.err")
        if time.monotonic() > deadline:
            raise TimeoutError(f"HIS {h.name} did not answer on port {h.port} within 60 s")
        time.sleep(0.3)
    if fresh:
        _bootstrap(h)
        (h.dir / "bootstrapped").touch()
    say(f"HIS {h.name} (mariadbd pid {proc.pid}) answers on {h.host}:{h.port}: {version}")
    return HisRunning(h.name, h.port, proc.pid, version)


def _first_answer(h: HisSettings, fresh: bool) -> str | None:
    if not fresh:
        return _version(h)
    # A fresh data directory's root has no password yet (socket and TCP both allowed).
    try:
        conn = pymysql.connect(
            unix_socket=str(h.dir / "mariadbd.sock"), user="root", connect_timeout=2
        )
    except (pymysql.err.OperationalError, OSError):
        return None
    with conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
        return str(row[0]) if row else None


def _bootstrap(h: HisSettings) -> None:
    """Root password, the HIS schema, and a replication account with only what sync needs."""
    conn = pymysql.connect(unix_socket=str(h.dir / "mariadbd.sock"), user="root", autocommit=True)
    root_pw = h.root_password.get_secret_value()
    repl_pw = h.repl_password.get_secret_value()
    with conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
        cur.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
        for host in ("localhost", "127.0.0.1"):
            cur.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, root_pw))
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{h.database}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{h.database}`")
        for stmt in schema_statements():
            cur.execute(stmt)
        cur.execute(
            f"CREATE USER IF NOT EXISTS '{h.repl_user}'@'127.0.0.1' IDENTIFIED BY %s", (repl_pw,)
        )
        # Binlog stream: REPLICATION SLAVE (read events), BINLOG MONITOR (SHOW MASTER STATUS,
        # gtid position). Snapshot: SELECT on the HIS schema only; nothing else.
        cur.execute(
            f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{h.repl_user}'@'127.0.0.1'"
        )
        cur.execute(f"GRANT SELECT ON `{h.database}`.* TO '{h.repl_user}'@'127.0.0.1'")


def schema_statements() -> list[str]:
    lines = [ln.split("--", 1)[0] for ln in SCHEMA_SQL.read_text().splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _read_pid(h: HisSettings) -> int | None:
    try:
        pid = int(_pid_file(h).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def down(h: HisSettings, say: Say = print) -> bool:
    pid = _read_pid(h)
    if pid is None:
        say(f"HIS {h.name} is not running")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    say(f"stopped HIS {h.name} (pid {pid})")
    return True


def crash(h: HisSettings) -> None:
    """kill -9 the HIS (tests: a hospital database that dies mid-write)."""
    pid = _read_pid(h)
    if pid is None:
        raise RuntimeError(f"HIS {h.name} is not running")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
