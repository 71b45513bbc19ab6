"""`platform/` is ours, `platform` is the standard library's: prove nothing mixes them up."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_import_platform_from_repo_root_is_the_standard_library() -> None:
    out = _run("-c", "import platform; print(platform.system()); print(platform.__file__)")
    assert out.returncode == 0, out.stderr
    system, where = out.stdout.split()
    assert system == "Linux"
    assert where.startswith(sysconfig.get_paths()["stdlib"])


def test_pytest_collects_from_repo_root_and_platform_stays_stdlib() -> None:
    out = _run("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/unit")
    assert out.returncode == 0, out.stdout + out.stderr
    probe = _run(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--collect-only",
        "-o",
        "addopts=",
        "--rootdir",
        ".",
        "tests/unit/test_layout.py",
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    check = _run(
        "-c",
        "import sys; sys.path.insert(0, ''); import platform; "
        "assert hasattr(platform, 'system'), platform.__file__",
    )
    assert check.returncode == 0, check.stderr


def test_our_platform_package_is_medhtap_platform() -> None:
    from medhtap.platform import settings

    assert Path(settings.__file__).resolve().parent == ROOT / "platform"
    assert not (ROOT / "platform" / "__init__.py").exists()
