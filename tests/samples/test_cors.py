import pytest

from envoy_pyext import FilterConfigError
from envoy_pyext.testing import FilterTester
from samples.cors import Cors

CONFIG = {"origins": ["https://app.example"], "methods": ["get", "put"],
          "headers": ["Content-Type", "X-Token"], "max_age": 60, "credentials": True}


def test_preflight_is_answered_locally():
    t = FilterTester(Cors, CONFIG)
    r = t.request("OPTIONS", "/api", headers={"origin": "https://app.example",
                                              "access-control-request-method": "PUT"})
    assert r.upstream is None and r.client.status == 204
    h = r.client.headers
    assert h["access-control-allow-origin"] == "https://app.example"
    assert h["access-control-allow-methods"] == "GET, PUT"
    assert h["access-control-allow-headers"] == "content-type, x-token"
    assert (h["access-control-max-age"], h["access-control-allow-credentials"]) == ("60", "true")
    assert h["vary"] == "origin"


def test_preflight_from_another_origin_is_refused():
    r = FilterTester(Cors, CONFIG).request("OPTIONS", "/", headers={
        "origin": "https://evil.example", "access-control-request-method": "GET"})
    assert r.client.status == 403 and r.upstream is None


def test_simple_requests_get_the_headers_for_allowed_origins_only():
    t = FilterTester(Cors, CONFIG)
    r = t.request(headers={"origin": "https://app.example"})
    assert r.client.headers["access-control-allow-origin"] == "https://app.example"
    r = t.request(headers={"origin": "https://evil.example"})
    assert r.client.status == 200 and "access-control-allow-origin" not in r.client.headers
    r = FilterTester(Cors, {"origins": ["*"]}).request(headers={"origin": "https://x.example"})
    assert r.client.headers["access-control-allow-origin"] == "*"


def test_wildcard_with_credentials_is_refused():
    with pytest.raises(FilterConfigError, match="cannot be combined with credentials"):
        FilterTester(Cors, {"origins": ["*"], "credentials": True})
