"""The AddressSanitizer build in Envoy (make test-asan; skipped otherwise): the heap routing
is live and a deliberate use-after-free in the module is reported (docs/RELIABILITY.md,
"Sanitizers"). The rest of make test-asan's integration tests fail on any report by
themselves (harness.EnvoyProcess.stop)."""

from __future__ import annotations

import http.client

import pytest

from . import sanitizers
from .harness import SO_PATH, EnvoyProcess, wait_for

pytestmark = pytest.mark.skipif(not sanitizers.enabled(),
                                reason="the ASan build only (make test-asan)")


def test_module_and_python_allocations_go_to_asans_heap(upstream):
    with EnvoyProcess({"routed": ("filters.asan_probe:Routed", str(SO_PATH)),
                       "add": ("samples.add_header:AddHeader", "x")}, upstream.port) as env:
        first = int(env.request("routed")[2])
        for _ in range(5):
            assert env.request("add", headers={"x-user": "u"})[0] == 200
        second = int(env.request("routed")[2])
    # the interpreter's start-up and every stream allocated from ASan's heap
    assert first > 10_000 and second - first >= 5, (first, second)


def test_use_after_free_is_reported(upstream):
    env = EnvoyProcess({"uaf": ("filters.asan_probe:UseAfterFree", str(SO_PATH))},
                       upstream.port)
    env.expect_sanitizer_report = True
    with env:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            env.request("uaf")  # ASan ends Envoy while the request waits
        wait_for(lambda: not env.alive(), "Envoy to exit after the report")
        log = env.log()
    found = sanitizers.reports(log)
    assert found, log[-3000:]
    report = found[0]
    assert "ERROR: AddressSanitizer: heap-use-after-free" in report, report
    assert "pyext_asan_selftest_use_after_free" in report, report
    assert "tools/asan/asan_selftest.cc:" in report, report  # the line of the bad read
    # the block: the 32 bytes the function freed (ASan cannot add where they were allocated
    # and freed: it never saw Envoy's worker threads start; docs/RELIABILITY.md)
    assert "is located 3 bytes inside of 32-byte region" in log
