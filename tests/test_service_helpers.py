"""The one rule for a missing service: skip locally, fail under ``CI=true``."""

from __future__ import annotations

import pytest

from tests.servers import unavailable


def test_a_missing_service_fails_under_ci_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under ``CI=true`` the test fails, and the message says which variable to set."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        unavailable("Redis is not reachable", setting="GATEPASS_TEST_REDIS_URL")
    assert "Redis is not reachable; CI=true requires it (set GATEPASS_TEST_REDIS_URL)" == str(
        failed.value
    )


@pytest.mark.parametrize("ci", ["", "false", "1"])
def test_a_missing_service_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    """Only ``CI=true`` turns the skip into a failure."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception) as skipped:
        unavailable("PostgreSQL is not reachable", setting="GATEPASS_TEST_POSTGRES_URL")
    assert "PostgreSQL is not reachable" == str(skipped.value)
