"""Shared test set-up. `--strict-skips` (CI) turns every skip into a failure: in CI the
integration tests (sshd fleet, ibsim/OpenSM, Redfish emulator) must run, not be skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--strict-skips", action="store_true", help="fail on any skipped test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.config.getoption("--strict-skips"):
        report.outcome = "failed"
        report.longrepr = f"skipped under --strict-skips (CI): {report.longrepr}"


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT_DIR
