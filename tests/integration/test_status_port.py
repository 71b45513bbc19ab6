"""The local tidb-server's status port answers on loopback only (issue 11.1).

The status port has no authentication and its /mvcc/key/... API returns raw rows (full
id-card numbers and names). The launcher binds it to `Settings.status_host` (127.0.0.1).
This starts its own server through the launcher and checks, from this machine, that the
port answers on 127.0.0.1 and does not on the machine's non-loopback addresses.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import subprocess
from pathlib import Path

import pytest

from medhtap.platform import localdb
from medhtap.platform.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _non_loopback_ipv4() -> list[str]:
    """This machine's own IPv4 addresses other than loopback (`hostname -I`)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout
    found = []
    for word in out.split():
        try:
            addr = ipaddress.ip_address(word)
        except ValueError:
            continue
        if addr.version == 4 and not addr.is_loopback:
            found.append(word)
    return found


def _listening_ipv4(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp."""
    addrs = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            addrs.add(socket.inet_ntoa(bytes.fromhex(host_hex)[::-1]))
    return addrs


def _answers(host: str, port: int) -> bool:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=3)
        conn.request("GET", "/status")
        return conn.getresponse().status == 200
    except OSError:
        return False


def test_status_port_listens_on_loopback_only(settings: Settings, tmp_path: Path) -> None:
    if settings.dsn:
        pytest.skip("MEDHTAP_DSN points at a cluster; this starts a local server")
    s = settings.model_copy(
        update={
            "port": _free_port(),
            "status_port": _free_port(),
            "data_dir": tmp_path / "tidb",
            "status_host": "127.0.0.1",
        }
    )
    localdb.up(s, say=print)
    try:
        assert _answers("127.0.0.1", s.status_port), "the status port should serve loopback"
        others = _non_loopback_ipv4()
        for addr in others:
            assert not _answers(addr, s.status_port), f"status port answers on {addr}"
        # The listening socket itself: bound to loopback, not 0.0.0.0 or [::]. A machine with
        # only loopback has no other address to connect from, and this is then the proof.
        assert _listening_ipv4(s.status_port) == {"127.0.0.1"}
        print(f"status port {s.status_port}: loopback only; refused on {others or 'no address'}")
    finally:
        localdb.down(s, say=print)
