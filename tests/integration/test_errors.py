"""Sandbox safety: an exception in any hook is caught, logged with its traceback, counted, and
answered fail-closed (500 on the request path, reset on the response path) or fail-open."""

import http.client
import time

import pytest

from .harness import EnvoyProcess

REQUEST_HOOKS = ["decode_headers", "decode_data", "decode_trailers"]
RESPONSE_HOOKS = ["encode_headers", "encode_data", "encode_trailers"]
LOG_ONLY_HOOKS = ["on_log", "on_destroy"]


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"closed": ("filters.probe:Raising", ""),
                       "open": ("filters.probe:RaisingFailOpen", ""),
                       "badreturn": ("filters.probe:BadReturn", ""),
                       # the semantics table's (tests/semantics), also run under FilterTester
                       "initraises": ("tests.semantics.filters:InitRaises", "")},
                      upstream.port) as env:
        yield env


def send(envoy, listener, hook):
    """A request that reaches every hook: a chunked body with trailers, and a response with
    a body and trailers."""
    return envoy.request(listener, "POST", body=[b"some body"], encode_chunked=True,
                         trailers={"x-req-trailer": "t"},
                         headers={"x-raise-in": hook, "x-upstream-trailer": "x-resp-trailer=r"})


def error_count(envoy, listener_class, module="filters.probe"):
    name = f"dynamicmodulescustom.envoy_pyext_errors.{module}.{listener_class}"
    return envoy.stat(name) or 0


@pytest.mark.parametrize("hook", REQUEST_HOOKS)
def test_request_path_exception_is_a_500(envoy, hook):
    before = error_count(envoy, "Raising")
    status, _, body = send(envoy, "closed", hook)
    assert status == 500
    assert body == b"Internal Server Error\n"  # generic: no traceback leaks to the client
    assert f"filters.probe:Raising.{hook} raised" in envoy.log()
    assert f"RuntimeError: boom in {hook}" in envoy.log()
    assert error_count(envoy, "Raising") == before + 1
    assert envoy.alive()


@pytest.mark.parametrize("hook", RESPONSE_HOOKS)
def test_response_path_exception_fails_closed(envoy, hook):
    before = error_count(envoy, "Raising")
    try:
        status, headers, body = send(envoy, "closed", hook)
    except (http.client.HTTPException, ConnectionError):
        status = None  # reset
    if hook == "encode_headers":
        # The response headers had not gone out: the client gets a clean 500, not a reset.
        assert status == 500 and body == b"Internal Server Error\n"
        assert f"filters.probe:Raising.{hook} raised; answering 500" in envoy.log()
    else:
        # encode_data/encode_trailers fail after the headers went out: the reset truncates
        if status is not None:
            assert "x-raising-saw-response" in {k.lower() for k, _ in headers}
        assert f"filters.probe:Raising.{hook} raised; resetting the stream" in envoy.log()
    assert error_count(envoy, "Raising") == before + 1
    assert envoy.alive()


@pytest.mark.parametrize("hook", LOG_ONLY_HOOKS)
def test_log_and_destroy_exceptions_are_logged(envoy, hook):
    before = error_count(envoy, "Raising")
    status, _, _ = send(envoy, "closed", hook)
    assert status == 200
    # on_destroy runs after the response: wait for its log line (bounded)
    deadline = time.monotonic() + 10
    while f"Raising.{hook} raised" not in envoy.log():
        assert time.monotonic() < deadline, envoy.log()[-2000:]
        envoy.admin("/ready")  # an event, not a sleep: one admin round trip
    assert error_count(envoy, "Raising") == before + 1
    assert envoy.alive()


@pytest.mark.parametrize("hook", REQUEST_HOOKS + RESPONSE_HOOKS)
def test_fail_open_continues(envoy, hook):
    status, _, _ = send(envoy, "open", hook)
    assert status == 200
    assert f"filters.probe:RaisingFailOpen.{hook} raised; continuing (fail_open)" in envoy.log()


def test_non_status_return_is_an_error(envoy):
    status, _, _ = envoy.request("badreturn")
    assert status == 500
    assert "returned 'yes please'; a hook must return an envoy_pyext.Status or None" in envoy.log()


def test_envoy_keeps_serving_after_many_errors(envoy):
    for _ in range(50):
        assert send(envoy, "closed", "decode_headers")[0] == 500
    assert send(envoy, "closed", "nowhere")[0] == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_init_that_raises_is_answered_500_not_a_hang(envoy, method):
    before = error_count(envoy, "InitRaises", "tests.semantics.filters")
    status, _, body = envoy.request("initraises", method,
                                    body=b"data" if method == "POST" else None)
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "RuntimeError: boom in __init__" in envoy.log()
    assert error_count(envoy, "InitRaises", "tests.semantics.filters") == before + 1
    assert envoy.alive()
