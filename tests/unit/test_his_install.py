"""mariadb-install-db, as `medhtap his up` runs it: a failure is retried once from an empty
data directory, and one that stays says what the tool printed (not a bare exit status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medhtap.platform import hisdb


def fake_install(tmp_path: Path, fail_times: int) -> str:
    """An install tool that fails `fail_times` times (leaving a stray file), then succeeds."""
    tool = tmp_path / "mariadb-install-db"
    tool.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{tmp_path}/count" 2>/dev/null || echo 0); n=$((n+1))\n'
        f'echo $n > "{tmp_path}/count"\n'
        'datadir=$(echo "$@" | sed -n "s/.*--datadir=\\([^ ]*\\).*/\\1/p")\n'
        f'if [ $n -le {fail_times} ]; then touch "$datadir/stray"; '
        'echo "[ERROR] InnoDB: cannot lock ./ibdata1" >&2; exit 1; fi\n'
        '[ -e "$datadir/stray" ] && { echo "not empty" >&2; exit 2; }\n'
        'mkdir "$datadir/mysql"\n'
    )
    tool.chmod(0o755)
    return str(tool)


def test_a_failed_install_is_redone_in_an_empty_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hisdb._install(fake_install(tmp_path, fail_times=1), data)
    assert (data / "mysql").is_dir() and not (data / "stray").exists()
    assert (tmp_path / "count").read_text().strip() == "2"


def test_an_install_that_keeps_failing_says_why(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot lock ./ibdata1"):
        hisdb._install(fake_install(tmp_path, fail_times=5), tmp_path / "data")
    assert (tmp_path / "count").read_text().strip() == str(hisdb.INSTALL_ATTEMPTS)
