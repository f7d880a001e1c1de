import pytest

from envoy_pyext import FilterConfigError
from envoy_pyext.testing import FilterTester
from samples.auth_local_reply import ApiKeyAuth


def test_the_issue_sketch():
    t = FilterTester(ApiKeyAuth, config='{"keys": ["k1"]}')
    r = t.request("GET", "/", headers={"x-api-key": "nope"})
    assert r.local_reply.status == 401 and r.upstream is None
    r = t.request("POST", "/", headers={"x-api-key": "k1"}, body=b"{}", response=(200, {}, b"ok"))
    assert r.upstream.headers["x-auth-user"] == "k1" and r.client.status == 200


def test_named_users_and_no_key_upstream():
    t = FilterTester(ApiKeyAuth, config={"keys": {"k1": "alice"}, "header": "x-key"})
    r = t.request(headers={"x-key": "k1", "x-auth-user": "forged"})
    assert r.upstream.headers.get_all("x-auth-user") == ["alice"]
    assert "x-key" not in r.upstream.headers
    r = t.request()
    assert r.client.status == 401 and r.client.json() == {"error": "missing or unknown API key"}
    assert r.client.headers["www-authenticate"] == "ApiKey"
    assert r.local_reply.details == "api_key_rejected"


def test_config_needs_keys():
    with pytest.raises(FilterConfigError, match="'keys' must be a non-empty list"):
        FilterTester(ApiKeyAuth, config={"keys": []})
