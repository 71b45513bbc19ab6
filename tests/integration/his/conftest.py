"""A real MariaDB HIS for the sync tests: own data dir and port, stopped afterwards."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from medhtap.platform import hisdb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_his(base: Path, name: str) -> hisdb.HisSettings:
    if hisdb.mariadb_binaries() is None:
        pytest.skip("mariadb-server is not installed here (./run installs it as root)")
    h = hisdb.HisSettings(name=name, port=free_port(), base_dir=base)
    hisdb.up(h, say=lambda m: print(f"[his] {m}"))
    return h


@pytest.fixture(scope="module")
def his(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hisdb.HisSettings]:
    h = start_his(tmp_path_factory.mktemp("his"), "hisa")
    yield h
    hisdb.down(h, say=print)


@pytest.fixture()
def fresh_his(tmp_path: Path) -> Iterator[hisdb.HisSettings]:
    """A HIS of its own for one test (a sync test owns its source's whole history)."""
    h = start_his(tmp_path, f"s{uuid.uuid4().hex[:6]}")
    yield h
    hisdb.down(h, say=print)
