"""Local replies with status, headers and body, from the request and the response path."""

import pytest

from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"replier": ("filters.probe:Replier", ""),
                       "auth": ("samples.auth_local_reply:ApiKeyAuth",
                                '{"keys": ["k1"], "header": "x-api-key"}')},
                      upstream.port) as env:
        yield env


def hdrs(headers):
    out = {}
    for k, v in headers:
        out.setdefault(k.lower(), []).append(v)
    return out


def test_local_reply_on_request_path(envoy, upstream):
    before = len(upstream.received)
    status, headers, body = envoy.request("replier", path="/deny")
    assert status == 403
    assert body == b"denied by probe\n"
    h = hdrs(headers)
    assert h["x-reason"] == ["probe", "second"]
    assert h["content-type"] == ["text/plain"]
    assert len(upstream.received) == before  # never reached the upstream


def test_invalid_local_reply_header_is_refused(envoy):
    status, _, body = envoy.request("replier", path="/bad-reply-header")
    assert status == 400
    assert body.startswith(b"ValueError: invalid header value")


def test_local_reply_on_response_path(envoy):
    status, headers, body = envoy.request("replier", headers={"x-upstream-status": "503"})
    assert status == 502
    assert body == b"upstream said 503\n"
    assert hdrs(headers)["x-replaced"] == ["yes"]


def test_pass_through_when_no_reply(envoy):
    status, _, _ = envoy.request("replier", path="/fine")
    assert status == 200


def test_sample_api_key_auth(envoy, upstream):
    status, headers, body = envoy.request("auth")
    assert status == 401
    assert hdrs(headers)["www-authenticate"] == ["ApiKey"]
    assert b"missing or unknown API key" in body
    status, _, body = envoy.request("auth", headers={"x-api-key": "k1"})
    assert status == 200
    assert "x-api-key" not in {k for k, _ in upstream.received[-1]["headers"]}
