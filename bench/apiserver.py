"""The API as its own uvicorn process over a bench database, for the benches that measure
what HTTP clients get (bench/settlement_bench.py, the HTAP analysts of bench/htap.py)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def start_api(
    database: str, analyst_user: str, tidb_port: int, workers: int = 1, **env: str
) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn --workers N on a free port, its settings from MEDHTAP_* variables (`env`
    adds more, e.g. MEDHTAP_ANALYST_MAX_CONCURRENT); returns once /healthz answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {
        **os.environ,
        "MEDHTAP_DATABASE": database,
        "MEDHTAP_ANALYST_USER": analyst_user,
        "MEDHTAP_PORT": str(tidb_port),
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "medhtap.services.api:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=environ,
        cwd=ROOT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("uvicorn did not start")


def call(
    conn: http.client.HTTPConnection, method: str, path: str, key: str, body: Any = None
) -> tuple[int, bytes]:
    """One request on a kept-alive connection: (status, body)."""
    headers = {"X-API-Key": key}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body), "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()
