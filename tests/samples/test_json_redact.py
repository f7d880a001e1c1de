import json

from envoy_pyext.testing import FilterTester, Response
from samples.json_redact import JsonRedact

DOC = {"user": "ann", "password": "hunter2",
       "cards": [{"number": "4111", "SSN": "123-45-6789"}], "note": "password is secret"}


def test_redacts_nested_fields_and_fixes_content_length():
    t = FilterTester(JsonRedact, config={"fields": ["password", "ssn"]})
    body = json.dumps(DOC).encode()
    r = t.request(response=(200, {"content-type": "application/json"}, body))
    got = r.client.json()
    assert got["password"] == "***" and got["cards"][0]["SSN"] == "***"
    assert got["note"] == "password is secret" and got["user"] == "ann"
    assert r.client.headers["content-length"] == str(len(r.client.body))
    assert r.client.headers["x-redacted"] == "2"


def test_chunked_json_is_seen_whole():
    t = FilterTester(JsonRedact)
    text = json.dumps(DOC).encode()
    r = t.request(response=Response(200, {"content-type": "application/json"},
                                    chunks=[text[:10], text[10:30], text[30:]]))
    assert r.client.json()["password"] == "***"
    assert "content-length" not in r.client.headers


def test_other_bodies_pass_unchanged():
    t = FilterTester(JsonRedact)
    r = t.request(response=(200, {"content-type": "text/plain"}, b'{"password": "x"}'))
    assert r.client.body == b'{"password": "x"}'
    r = t.request(response=(200, {"content-type": "application/json"}, b"{not json"))
    assert r.client.body == b"{not json" and "x-redacted" not in r.client.headers
