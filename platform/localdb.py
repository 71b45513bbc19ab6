"""Find or start the database MedHTAP talks to (`medhtap db up|down|status`).

Order of preference, printed to the user:
1. MEDHTAP_DSN: an existing cluster (production, TiDB Cloud, tiup cluster, TiDB Operator).
2. `tiup playground` when tiup is on PATH: PD + TiKV + TiFlash on a developer laptop.
3. A tidb-server built from the pinned TiDB commit (deploy/tidb/local/build.sh), run with its
   embedded unistore storage on disk. No TiFlash there; the capability probe says so.

The local server is started in its crash-safe configuration (deploy/tidb/local/tidb.toml
and `CRASH_SAFE_GLOBALS`; measured in ../shared TIDB-NOTES "Crash behaviour"): one region,
and every transaction committed in one step (1PC), so a kill -9 keeps each acknowledged
transaction whole. Its status port (no authentication, raw rows) binds to
`Settings.status_host`, loopback by default.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql

from medhtap.platform.settings import REPO_ROOT, Settings

BUILD_SCRIPT = REPO_ROOT / "deploy" / "tidb" / "local" / "build.sh"
CONFIG_FILE = REPO_ROOT / "deploy" / "tidb" / "local" / "tidb.toml"
# Set after every start (they persist; setting them again is harmless). On unistore TiDB
# leaves async commit and 1PC off. Async commit answers after prewrite, which unistore keeps
# in memory only; 1PC writes the whole transaction in one badger batch before answering,
# if it fits one region and one commit batch (hence the 1 GiB batch size, TiDB's maximum).
CRASH_SAFE_GLOBALS = {
    "tidb_enable_async_commit": "OFF",
    "tidb_enable_1pc": "ON",
    "tidb_txn_commit_batch_size": "1073741824",
}
Say = Callable[[str], None]


@dataclass(frozen=True)
class Running:
    source: str  # "dsn", "tiup-playground", "local-tidb-server"
    host: str
    port: int
    pid: int | None = None


def _pid_file(s: Settings) -> Path:
    return s.data_dir.parent / "tidb-server.pid"


def _log_file(s: Settings) -> Path:
    return s.data_dir.parent / "tidb-server.log"


def answers_sql(host: str, port: int, user: str = "root", password: str = "") -> str | None:
    """The server's VERSION() if something answers SQL there, else None."""
    try:
        conn = pymysql.connect(
            host=host, port=port, user=user, password=password, connect_timeout=2
        )
    except (pymysql.err.OperationalError, OSError):
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            return str(row[0]) if row else None
    finally:
        conn.close()


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_sql(s: Settings, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = answers_sql(s.host, s.port, s.user, s.password.get_secret_value())
        if version:
            return version
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"tidb-server exited with {proc.returncode}; see {_log_file(s)}")
        time.sleep(0.3)
    raise TimeoutError(f"no SQL answer on {s.host}:{s.port} after {timeout:.0f}s")


def apply_crash_safe_globals(s: Settings) -> None:
    conn = pymysql.connect(
        host=s.host, port=s.port, user=s.user, password=s.password.get_secret_value()
    )
    try:
        with conn.cursor() as cur:
            for name, value in CRASH_SAFE_GLOBALS.items():
                cur.execute(f"SET GLOBAL {name} = {value}")
    finally:
        conn.close()


def server_command(binary: Path, s: Settings, log: Path, *, crash_safe: bool = True) -> list[str]:
    """The local tidb-server's command line. `crash_safe=False` is the old layout (a region
    per table), kept only so the crash test and the bench can compare the two."""
    config = ["-config", str(CONFIG_FILE)] if crash_safe else []
    return [
        str(binary),
        "-store=unistore",
        *config,
        "-path",
        str(s.data_dir),
        "-host",
        s.host,
        "-P",
        str(s.port),
        "-status",
        str(s.status_port),
        "-status-host",
        s.status_host,
        "-log-file",
        str(log),
        "-log-slow-query",
        str(log.with_name("tidb-slow.log")),
    ]


def build_local_tidb(say: Say) -> Path:
    """Build (or find cached) tidb-server; the script prints progress on stderr."""
    say("building/locating tidb-server from the pinned TiDB commit (deploy/tidb/local)")
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def up(s: Settings, say: Say = print, *, crash_safe: bool = True) -> Running:
    if s.dsn:
        say("1) MEDHTAP_DSN is set: using that cluster, starting nothing")
        return Running("dsn", s.host, s.port)
    version = answers_sql(s.host, s.port, s.user, s.password.get_secret_value())
    if version:
        pid = _read_pid(s)
        say(f"a server already answers on {s.host}:{s.port}: {version}")
        return Running("local-tidb-server" if pid else "existing", s.host, s.port, pid)
    if _port_open(s.host, s.port):
        raise RuntimeError(f"{s.host}:{s.port} is taken by something that does not answer SQL")
    tiup = shutil.which("tiup")
    if tiup and os.environ.get("MEDHTAP_NO_TIUP") != "1":
        say("2) tiup found: starting `tiup playground` (PD + TiKV + TiFlash)")
        return _up_playground(s, tiup, say)
    say("3) no MEDHTAP_DSN, no tiup: running a locally built tidb-server (unistore, on disk)")
    binary = build_local_tidb(say)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    log = _log_file(s)
    cmd = server_command(binary, s, log, crash_safe=crash_safe)
    with open(s.data_dir.parent / "tidb-server.stdout", "ab") as out:
        # cwd: tidb-server writes relative files there; never into the caller's checkout.
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=s.data_dir.parent,
        )
    _pid_file(s).write_text(str(proc.pid))
    version = _wait_sql(s, 120, proc)
    if crash_safe:
        apply_crash_safe_globals(s)
    say(f"tidb-server pid {proc.pid} answers on {s.host}:{s.port}: {version}")
    layout = f"{CONFIG_FILE.name}: one region, 1PC" if crash_safe else "a region per table"
    say(f"status port {s.status_host}:{s.status_port}; layout: {layout}")
    say(f"data: {s.data_dir}  log: {log}")
    return Running("local-tidb-server", s.host, s.port, proc.pid)


def _up_playground(s: Settings, tiup: str, say: Say) -> Running:
    log = _log_file(s).with_name("tiup-playground.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        tiup,
        "playground",
        "v8.5.0",
        "--tag",
        "medhtap",
        "--db",
        "1",
        "--pd",
        "1",
        "--kv",
        "1",
        "--tiflash",
        "1",
        "--db.port",
        str(s.port),
        "--without-monitor",
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _pid_file(s).write_text(str(proc.pid))
    version = _wait_sql(s, 600, proc)
    say(f"tiup playground pid {proc.pid} answers on {s.host}:{s.port}: {version}")
    return Running("tiup-playground", s.host, s.port, proc.pid)


def _read_pid(s: Settings) -> int | None:
    try:
        pid = int(_pid_file(s).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _alive(pid: int) -> bool:
    try:  # our own child (started in this process): reap it, or it lingers as a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_exit(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def down(s: Settings, say: Say = print) -> bool:
    pid = _read_pid(s)
    if pid is None:
        say("no MedHTAP-started server is running")
        return False
    os.killpg(pid, signal.SIGTERM)
    # A graceful stop flushes unistore; give it time before the last resort.
    if not _wait_exit(pid, 60):
        say(f"server pid {pid} ignored SIGTERM for 60 s: killing it")
        os.killpg(pid, signal.SIGKILL)
        _wait_exit(pid, 10)
    _pid_file(s).unlink(missing_ok=True)
    say(f"stopped server pid {pid}")
    return True


def crash(s: Settings) -> None:
    """kill -9 the server this process group started (crash tests only: no flush)."""
    pid = _read_pid(s)
    if pid is None:
        raise RuntimeError("no MedHTAP-started server to crash")
    os.killpg(pid, signal.SIGKILL)
    _wait_exit(pid, 30)
    _pid_file(s).unlink(missing_ok=True)


def status(s: Settings) -> Running | None:
    if s.dsn:
        return Running("dsn", s.host, s.port)
    if answers_sql(s.host, s.port, s.user, s.password.get_secret_value()):
        pid = _read_pid(s)
        return Running("local-tidb-server" if pid else "existing", s.host, s.port, pid)
    return None
