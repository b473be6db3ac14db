"""Hypothesis runs derandomized under CI=true and randomly elsewhere (tests/conftest.py)."""

import os

from hypothesis import settings


def test_profile_follows_the_ci_variable():
    in_ci = os.environ.get("CI", "").lower() in ("true", "1")
    assert settings().derandomize is in_ci
    assert settings().database is None or not in_ci
