"""self.filter_state in the real Envoy: bytes for the access log (%FILTER_STATE(key:PLAIN)%)
and later filters, Python objects handed between two Python filters of a stream (and of a
connection), freed when Envoy drops them; writes from a pending coroutine."""

import json
import uuid

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener
from .test_context_meta import log_line

LOG_FORMAT = ("tag=%REQ(x-tag)% user=%FILTER_STATE(acme.user:PLAIN)% "
              "late=%FILTER_STATE(acme.late:PLAIN)%\n")


@pytest.fixture(scope="module")
def access_log(tmp_path_factory):
    return tmp_path_factory.mktemp("accesslog") / "access.log"


@pytest.fixture(scope="module")
def envoy(upstream, access_log):
    chain = [filter_entry("filters.context_state:Producer"),
             filter_entry("filters.context_state:Consumer")]
    hcm = {"access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log), "log_format": {"text_format": LOG_FORMAT}}}]}
    cfg = bootstrap([listener("state", chain, hcm_extra=hcm),
                     listener("freed", [filter_entry("filters.context_state:Freed")])],
                    upstream.port)
    with EnvoyProcess(config=cfg, extra_args=["--file-flush-interval-msec", "20"]) as env:
        yield env


def request(envoy, mode="sync", conn=None):
    tag = uuid.uuid4().hex
    if conn is None:
        status, headers, body = envoy.request("state", headers={"x-tag": tag, "x-mode": mode})
    else:
        conn.request("GET", "/", headers={"x-tag": tag, "x-mode": mode})
        resp = conn.getresponse()
        status, headers, body = resp.status, resp.getheaders(), resp.read()
    assert status == 200, body
    return tag, json.loads(dict(headers)["x-state"])


def test_bytes_and_objects_reach_the_next_filter(envoy):
    tag, seen = request(envoy)
    assert seen["user"] == f"user-{tag}"
    assert seen["bin"] == [0, 1, 255]
    assert seen["has_user"] is True and seen["has_missing"] is False
    assert seen["missing"] == "dflt"
    assert seen["obj_tag"] == tag and seen["obj_items"] == [1, 2, 3]
    assert seen["bytes_as_object"] == "dflt"
    assert seen["errors"] == "TypeError,TypeError,ValueError"
    assert seen["late"] == "" and seen["late_obj"] is None


def test_the_access_log_prints_filter_state(envoy, access_log):
    tag, _ = request(envoy)
    assert f"tag={tag} user=user-{tag} late=-" in log_line(access_log, tag)


def test_envoy_frees_the_object_when_the_stream_ends(envoy):
    tag, seen = request(envoy)
    assert seen["obj_tag"] == tag
    status, _, body = envoy.request("freed", headers={"x-tag": tag})
    assert (status, body) == (200, b"freed")


def test_writes_from_a_pending_coroutine_are_applied_when_it_resumes(envoy, access_log):
    tag, seen = request(envoy, "async")
    assert seen["late"] == "from-coroutine"
    assert seen["late_obj"] == {"tag": tag}
    assert seen["read_error"] == "yes"             # reads need the worker
    assert "late=from-coroutine" in log_line(access_log, tag)


def test_connection_life_span_outlives_the_request(envoy):
    conn = envoy.connect("state")
    try:
        first, seen1 = request(envoy, "connection", conn)
        second, seen2 = request(envoy, "connection", conn)
    finally:
        conn.close()
    assert seen1["conn_tag"] == first and seen1["conn_first"] == first
    assert seen2["conn_tag"] == first and seen2["conn_first"] == first   # same connection
    status, _, body = envoy.request("freed", headers={"x-tag": first})  # freed at close
    assert (status, body) == (200, b"freed")
    third, seen3 = request(envoy, "connection")     # a new connection: its own object
    assert seen3["conn_tag"] == third
