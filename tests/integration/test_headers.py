"""Reading and writing request/response headers through the real Envoy."""

import json

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"probe": ("filters.probe:HeaderProbe", "")}, upstream.port) as env:
        yield env


def test_request_headers_read_and_written(envoy):
    status, headers, body = envoy.request("probe", path="/a?b=c", headers=[
        ("x-user", "alice"), ("x-multi-in", "1"), ("x-multi-in", "2"),
        ("x-remove-me", "secret"), ("x-del-me", "x"), ("x-replaced", "old1"),
        ("x-replaced", "old2")])
    assert status == 200, body
    got = upstream_view(body)
    probe = json.loads(got["h"]["x-probe"][0])
    assert probe["method"] == "GET"
    assert probe["path"] == "/a?b=c"
    assert probe["authority"].startswith("127.0.0.1:")
    assert probe["user"] == "alice"
    assert probe["User-Case"] == "alice"          # names are case-insensitive
    assert probe["multi"] == ["1", "2"]
    assert probe["missing"] == "default"
    assert probe["len_positive"] and probe["keys_lower"] and probe["items_has_user"]
    assert probe["del_missing"] == "KeyError"
    h = got["h"]
    assert h["x-seen"] == ["1"]
    assert h["x-added"] == ["a", "b"]              # add keeps both values, in order
    assert h["x-replaced"] == ["new"]              # set replaces every value
    assert "x-remove-me" not in h and "x-del-me" not in h


def test_invalid_names_and_values_are_refused(envoy):
    status, _, body = envoy.request("probe", headers={"x-user": "bob"})
    assert status == 200
    got = upstream_view(body)
    probe = json.loads(got["h"]["x-probe"][0])
    for label in ("bad_name", "bad_cr", "bad_lf", "bad_nul", "bad_colon", "bad_empty"):
        assert probe[label] == "ValueError", label
    # nothing of the refused writes reached Envoy
    assert "x-bad" not in got["h"] and "bad name" not in got["h"]


def test_pseudo_header_path_rewrite(envoy):
    status, _, body = envoy.request("probe", path="/original",
                                    headers={"x-rewrite-path": "/rewritten?q=1"})
    assert status == 200
    assert upstream_view(body)["path"] == "/rewritten?q=1"


def test_non_utf8_value_round_trips_exactly(envoy):
    # http.client sends header values as latin-1: b"caf\xe9" is not valid UTF-8.
    status, _, body = envoy.request("probe", headers={"x-latin1": "caf\xe9"})
    assert status == 200
    got = upstream_view(body)
    probe = json.loads(got["h"]["x-probe"][0])
    assert probe["latin1_bytes"] == b"caf\xe9".hex()
    # the upstream (latin-1 decoding) sees the very same bytes in the copy
    assert got["h"]["x-latin1-copy"] == ["caf\xe9"]


def test_response_headers_read_and_written(envoy):
    status, headers, _ = envoy.request("probe", headers=[
        ("x-user", "carol"), ("x-upstream-set-header", "x-upstream-only=1"),
        ("x-upstream-set-header", "x-kept=2")])
    assert status == 200
    names = [k.lower() for k, _ in headers]
    values = {k.lower(): v for k, v in headers}
    assert values["x-status-seen"] == "200"
    assert values["x-filter"] == "carol"
    assert [v for k, v in headers if k.lower() == "x-resp-multi"] == ["1", "2"]
    assert "x-upstream-only" not in names
    assert values["x-kept"] == "2"
    # Envoy 1.40's ABI cannot store empty values: refused loudly, never dropped silently
    assert values["x-empty-set"] == values["x-empty-add"] == "ValueError"
    assert "x-empty" not in names


def test_response_status_rewrite(envoy):
    status, headers, _ = envoy.request("probe", headers={"x-set-status": "418"})
    assert status == 418
    assert dict((k.lower(), v) for k, v in headers)["x-status-seen"] == "200"
