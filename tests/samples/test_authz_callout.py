import json

from envoy_pyext import CalloutResetError
from envoy_pyext.testing import FilterTester
from samples.authz_callout import AuthzCallout


def make_tester():
    t = FilterTester(AuthzCallout, {"cluster": "authz", "timeout": 0.1})

    def decide(req):
        q = req.json()
        if q["user"] == "ann":
            return 200, {"x-authz-user": "ann@corp"}, b"{}"
        return 403, {}, b"{}"

    t.callouts.add("authz", "/check", method="POST", response=decide)
    return t


def test_allowed_and_denied():
    t = make_tester()
    r = t.request("GET", "/doc", headers={"x-user": "ann"})
    assert r.upstream.headers["x-authz-user"] == "ann@corp"
    call = t.callouts.calls[0]
    assert json.loads(call.body) == {"method": "GET", "path": "/doc", "user": "ann"}
    assert call.headers["content-type"] == "application/json"
    r = t.request("GET", "/doc", headers={"x-user": "bob"})
    assert (r.client.status, r.client.body, r.upstream) == (403, b"denied\n", None)


def test_slow_and_unreachable_services():
    t = FilterTester(AuthzCallout, {"timeout": 0.05})
    t.callouts.add("authz", response=200, delay=1)
    assert t.request().client.status == 504
    t = FilterTester(AuthzCallout)
    t.callouts.add("authz", error=CalloutResetError("reset", "connection_failure"))
    r = t.request()
    assert r.client.status == 503 and "unreachable" in r.logs[0].message
