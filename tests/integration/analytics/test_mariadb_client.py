"""An analyst connects with a stock MySQL client (Debian's mariadb) as the analyst account."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from medhtap.platform.settings import Settings


def _client() -> str:
    path = shutil.which("mariadb") or shutil.which("mysql")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("the mariadb client is missing (CI must install mariadb-client)")
        pytest.skip("mariadb client not installed (apt-get install mariadb-client)")
    return path


def _run(settings: Settings, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _client(),
            "-h",
            settings.host,
            "-P",
            str(settings.port),
            "-u",
            settings.analyst_user,
            f"-p{settings.analyst_password.get_secret_value()}",
            "--batch",
            "--skip-ssl",
            settings.database,
            "-e",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.mariadb_client
def test_analyst_reads_masked_views_with_the_mariadb_client(settings: Settings, factory) -> None:
    psn = factory.person(name="赵六")
    certno = factory.certno(psn)
    res = _run(
        settings, f"SELECT certno_masked, psn_name_masked FROM v_person WHERE psn_no = '{psn}'"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1].split("\t") == [certno[:6] + "********" + certno[-4:], "赵*"]


@pytest.mark.mariadb_client
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT certno FROM insured_person LIMIT 1",
        "DELETE FROM settlement",
        "SELECT * FROM mysql.user",
    ],
)
def test_the_same_account_is_refused_base_tables_and_writes(settings: Settings, sql: str) -> None:
    res = _run(settings, sql)
    assert res.returncode != 0
    assert "1142" in res.stderr or "denied" in res.stderr
