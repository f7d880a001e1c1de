from envoy_pyext.testing import FilterTester
from samples.add_header import AddHeader


def test_marks_the_request_and_names_the_user():
    t = FilterTester(AddHeader, config="hi")
    r = t.request("GET", "/", headers={"x-user": "alice"})
    assert r.upstream.headers["x-seen"] == "1"
    assert (r.client.headers["x-filter"], r.client.headers["x-greeting"]) == ("alice", "hi")


def test_anonymous_without_greeting():
    r = FilterTester(AddHeader).request()
    assert r.client.headers["x-filter"] == "anonymous" and "x-greeting" not in r.client.headers
