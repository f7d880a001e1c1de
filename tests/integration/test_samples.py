"""Every sample in samples/ through the real Envoy."""

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({
        "add_header": ("samples.add_header:AddHeader", "hi"),
        "auth": ("samples.auth_local_reply:ApiKeyAuth", '{"keys": ["k1"]}'),
        "body": ("samples.body_rewrite:BodyRewrite", "hello=goodbye"),
        "async": ("samples.async_lookup:RoleLookup", "0.01"),
    }, upstream.port) as env:
        yield env


def test_add_header(envoy):
    status, headers, body = envoy.request("add_header", headers={"x-user": "alice"})
    assert status == 200
    h = dict((k.lower(), v) for k, v in headers)
    assert (h["x-filter"], h["x-greeting"]) == ("alice", "hi")
    assert upstream_view(body)["h"]["x-seen"] == ["1"]


def test_auth(envoy):
    assert envoy.request("auth")[0] == 401
    assert envoy.request("auth", headers={"x-api-key": "k1"})[0] == 200


def test_body_rewrite(envoy, upstream):
    status, headers, body = envoy.request("body", "POST", body=b"hello world, hello")
    assert status == 200
    assert upstream.received[-1]["body"] == b"goodbye world, goodbye"
    assert body == body.upper()  # the response body came back upper-cased
    assert dict((k.lower(), v) for k, v in headers)["content-length"] == str(len(body))


def test_async_lookup(envoy):
    status, _, body = envoy.request("async", headers={"x-user": "alice"})
    assert status == 200
    assert upstream_view(body)["h"]["x-role"] == ["admin"]
    status, _, body = envoy.request("async", headers={"x-user": "mallory"})
    assert (status, body) == (403, b"unknown user\n")
