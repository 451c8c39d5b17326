"""Fixtures for the command-line tests: a temporary SQLite store URL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A SQLite store URL (absolute path) in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'gatepass.db'}"
