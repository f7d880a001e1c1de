"""Unit-test fixtures: every test must leave the runtime as it found it."""

import pytest

import envoy_pyext

from . import filters
from tests.fakehost.driver import hooks


@pytest.fixture(autouse=True)
def runtime_back_to_baseline():
    """After each test: no stream left alive, no hook left pending, no Filter leaked (freed by
    reference counting: no gc.collect() here)."""
    filters.captured.clear()
    hooks.envoy_pyext_flush_destroyed_streams()
    before = envoy_pyext.stats()
    yield
    filters.captured.clear()
    hooks.envoy_pyext_flush_destroyed_streams()
    after = envoy_pyext.stats()
    for key in ("live_streams", "pending", "live_filters"):
        assert after[key] == before[key], \
            f"{key}: {before[key]} before the test, {after[key]} after"
