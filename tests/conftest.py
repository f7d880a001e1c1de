"""Test-suite set-up. Before anything imports envoy_pyext, build and load the fake Envoy host
(tests/fakehost) RTLD_GLOBAL so the extension's weak Envoy callbacks bind to it in this
process (unit tests). Integration tests run the real Envoy in its own process."""

from tests.fakehost import FAKEHOST, FAKEHOST_SO, FAKEHOST_SRC  # noqa: F401  (re-exported)
