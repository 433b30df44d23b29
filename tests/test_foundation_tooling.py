"""The Makefile and .ci/run: the two README commands and CI. Runs `make` for real, on a copy of
the Makefile in tmp_path where a command must not touch the checkout's virtualenv, and with
`-n` (print, do not run) where it reads the checkout."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")


def make(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "PORT", "DB_URL", "MAKEFLAGS")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_ci_run_is_an_executable_strict_script_that_runs_make_test():
    script = REPO / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR, ".ci/run must be executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    commands = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in commands


def test_make_help_is_the_default_and_lists_run_and_test():
    default, named = make(), make("help")
    assert default.returncode == 0 and named.returncode == 0, named.stderr
    assert default.stdout == named.stdout
    listed = {line.split()[1] for line in named.stdout.splitlines() if line.strip().startswith("make ")}
    assert {"run", "test", "lint", "demo-video", "benchmarks", "clean"} <= listed


def test_make_run_processes_the_demo_once_then_serves_on_port():
    dry = make("-n", "PORT=8611", "run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    process = next(i for i, line in enumerate(lines) if "-m engine process assets/demo_class.mp4" in line)
    serve = next(i for i, line in enumerate(lines) if "-m dashboard --port 8611" in line)
    assert process < serve
    assert "--if-missing" in lines[process] and "sqlite:///classroom.db" in lines[process]


def test_make_test_runs_the_whole_suite_with_durations():
    dry = make("-n", "test")
    assert dry.returncode == 0, dry.stderr
    assert any(line.startswith(".venv/bin/python -m pytest") and "--durations=15" in line
               for line in dry.stdout.splitlines())


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """The Makefile and requirement files in an empty directory (no .venv yet)."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy2(REPO / name, tmp_path / name)
    return tmp_path


def test_a_wrong_python_is_refused_with_a_clear_message(sandbox: Path):
    fake = sandbox / "python3.10"
    fake.write_text("#!/bin/sh\n# a Python that is not 3.11 or 3.12: the version check exits 1\nexit 1\n")
    fake.chmod(0o755)
    result = make(f"PYTHON={fake}", "venv", cwd=sandbox)
    assert result.returncode != 0
    assert "Python 3.11 (or 3.12) is needed" in result.stderr
    assert not (sandbox / ".venv").exists()


def test_requirements_are_installed_again_only_when_they_change(sandbox: Path):
    venv_python = sandbox / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\nexit 0\n")
    venv_python.chmod(0o755)
    stamp = sandbox / ".venv" / ".installed-dev"
    stamp.touch()
    old = stamp.stat().st_mtime - 100
    for name in ("requirements.txt", "requirements-dev.txt"):
        os.utime(sandbox / name, (old, old))
    assert "pip install" not in make("-n", "dev-venv", cwd=sandbox).stdout

    os.utime(sandbox / "requirements.txt", None)  # edited after the last install
    again = make("-n", "dev-venv", cwd=sandbox).stdout
    assert "pip install -q -r requirements-dev.txt" in again


def test_make_test_stops_when_pytest_finds_no_tests(sandbox: Path):
    """pytest exit 5 (no tests) fails `make test`, so .ci/run fails too: the recipe runs the
    fake venv python, whose exit status stands in for pytest's."""
    venv_python = sandbox / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\nexit 5\n")
    venv_python.chmod(0o755)
    (sandbox / ".venv" / ".installed-dev").touch()
    (sandbox / ".venv" / ".installed-run").touch()
    result = make("test", "APT_TEST=", cwd=sandbox)
    assert result.returncode != 0
    assert "Error 5" in result.stderr


def test_every_debian_package_the_code_asks_for_is_installed_by_make_test():
    """Skip reasons and error messages say `apt-get install -y PKG ...`; `make test` must
    install each such PKG, or that test would skip forever on CI."""
    import re

    asked: set[str] = set()
    for folder in ("tests", "engine", "dashboard", "training", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            for match in re.finditer(r"apt-get install -y ((?:[a-z0-9][a-z0-9.+-]* ?)+)", path.read_text()):
                asked.update(match.group(1).split())
    assert asked, "the pattern no longer matches the code's hints"
    listed = make("apt-list")
    assert listed.returncode == 0, listed.stderr
    assert asked <= set(listed.stdout.split())


def test_make_benchmarks_runs_each_script_and_reports_failures(sandbox: Path):
    """Scripts with a main guard run as `python -m benchmarks.NAME`; helper modules and the
    benchmarks that need their own virtualenv do not; a failing one fails the target."""
    venv_python = sandbox / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    # The fake interpreter records what it was asked to run; "broken" fails like a crash.
    venv_python.write_text('#!/bin/sh\necho "ran $*"\ncase "$*" in *broken*) exit 3;; esac\n')
    venv_python.chmod(0o755)
    (sandbox / ".venv" / ".installed-run").touch()
    bench = sandbox / "benchmarks"
    bench.mkdir()
    for name in ("fer_speed", "engine_peer"):
        (bench / f"{name}.py").write_text('if __name__ == "__main__":\n    pass\n')
    (bench / "_machine.py").write_text("def describe():\n    return ''\n")

    ok = make("benchmarks", "APT_TEST=", cwd=sandbox)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ran -m benchmarks.fer_speed" in ok.stdout
    assert "ran -m benchmarks.engine_peer" not in ok.stdout and "skipped benchmarks/engine_peer.py" in ok.stdout
    assert "_machine" not in ok.stdout

    (bench / "broken.py").write_text('if __name__ == "__main__":\n    raise SystemExit(3)\n')
    bad = make("benchmarks", "APT_TEST=", cwd=sandbox)
    assert bad.returncode != 0
    assert "benchmarks that failed: broken" in bad.stdout
