"""Fixtures of the plan review tests (helpers live in tests/review/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.review.helpers import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "site")
