"""on_local_reply in the real Envoy: Envoy's local replies (no route, direct_response, upstream
unavailable), the filter's own send_local_reply, Status.RESET instead of the reply, and
errors."""

import http.client
import json

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, free_port, listener

ROUTES = {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
    {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": {
        "inline_string": "direct\n"}}},
    {"match": {"prefix": "/dead"}, "route": {"cluster": "dead", "timeout": "30s"}},
    {"match": {"prefix": "/up"}, "route": {"cluster": "upstream", "timeout": "30s"}}]}]}


@pytest.fixture(scope="module")
def envoy(upstream):
    cfg = bootstrap([listener("lr", [filter_entry("filters.context_local_reply:Watch")],
                              hcm_extra={"route_config": ROUTES})], upstream.port)
    cfg["static_resources"]["clusters"].append({
        "name": "dead", "connect_timeout": "2s", "type": "STATIC",
        "load_assignment": {"cluster_name": "dead", "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                        "port_value": free_port()}}}}]}]}})
    with EnvoyProcess(config=cfg) as env:
        yield env


def replies(envoy, path, **headers):
    status, h, body = envoy.request("lr", path=path, headers=headers)
    return status, json.loads(dict(h).get("x-local-replies", "null")), body


def test_envoys_local_replies(envoy):
    status, seen, _ = replies(envoy, "/nope")
    assert status == 404 and seen == [[404, "route_not_found", False]]
    status, seen, body = replies(envoy, "/direct")
    assert (status, body) == (200, b"direct\n") and seen == [[200, "direct_response", False]]
    status, seen, _ = replies(envoy, "/dead")
    assert status == 503
    assert len(seen) == 1 and seen[0][0] == 503
    assert seen[0][1].startswith("upstream_reset_before_response_started")


def test_upstream_responses_are_not_local_replies(envoy):
    status, seen, _ = replies(envoy, "/up")
    assert status == 200 and seen == []


def test_the_filters_own_local_reply(envoy):
    status, seen, body = replies(envoy, "/up", **{"x-answer": "1"})
    assert (status, body) == (403, b"no\n")
    assert seen is None                 # the filter answered: its encode_headers did not run
    assert "local reply seen: 403 denied_by_python False" in envoy.log()


def test_reset_instead_of_the_reply(envoy):
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        envoy.request("lr", path="/nope", headers={"x-reset": "1"})
    assert replies(envoy, "/nope")[0] == 404     # Envoy keeps serving


def test_an_error_in_on_local_reply_is_logged_and_the_reply_goes_out(envoy):
    before = envoy.stat("dynamicmodulescustom.envoy_pyext_errors.filters.context_local_reply."
                        "Watch") or 0
    status, seen, _ = replies(envoy, "/nope", **{"x-raise": "1"})
    assert status == 404 and seen == [[404, "route_not_found", False]]
    assert envoy.stat("dynamicmodulescustom.envoy_pyext_errors.filters.context_local_reply."
                      "Watch") == before + 1
    assert "on_local_reply raised; logged only" in envoy.log()
    assert "RuntimeError: on_local_reply failed" in envoy.log()


def test_reset_from_another_hook_is_an_error(envoy):
    status, seen, _ = replies(envoy, "/up", **{"x-bad-status": "1"})
    assert status == 500 and seen is None
    assert "local reply seen: 500 envoy_pyext_filter_error False" in envoy.log()
    assert "returned Status.RESET, which only on_local_reply may return" in envoy.log()
