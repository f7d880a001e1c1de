"""self.metadata in the real Envoy: dynamic metadata written by one Python filter, read by the
next, printed by the access log (%DYNAMIC_METADATA%); the route's, cluster's, host's and
locality's metadata from the configuration; writes from a pending coroutine and a thread."""

import json
import time
import uuid

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener

ACME = {"team": "payments", "weight": 3, "canary": True, "tags": ["a", "b"]}
ROUTE = {"name": "local", "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"},
                "metadata": {"filter_metadata": {"acme": ACME}}}]}]}
LOG_FORMAT = ("tag=%DYNAMIC_METADATA(acme.w:tag)% n=%DYNAMIC_METADATA(acme.w:n)% "
              "late=%DYNAMIC_METADATA(acme.w:late)% logged=%DYNAMIC_METADATA(acme.w:logged)% "
              "nested=%DYNAMIC_METADATA(acme.w:nested)% flag=%DYNAMIC_METADATA(acme.w:flag)%\n")


@pytest.fixture(scope="module")
def access_log(tmp_path_factory):
    return tmp_path_factory.mktemp("accesslog") / "access.log"


@pytest.fixture(scope="module")
def envoy(upstream, access_log):
    chain = [filter_entry("filters.context_meta:Writer"),
             filter_entry("filters.context_meta:Reader")]
    hcm = {"route_config": ROUTE, "access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log), "log_format": {"text_format": LOG_FORMAT}}}]}
    cfg = bootstrap([listener("meta", chain, hcm_extra=hcm)], upstream.port)
    cluster = cfg["static_resources"]["clusters"][0]
    cluster["metadata"] = {"filter_metadata": {"acme": {"tier": "gold"}}}
    locality = cluster["load_assignment"]["endpoints"][0]
    locality["metadata"] = {"filter_metadata": {"acme": {"region": "eu-1"}}}
    locality["lb_endpoints"][0]["metadata"] = {"filter_metadata": {"acme": {"zone": "z1"}}}
    # The access log file is flushed every 20 ms (default: 10 s).
    with EnvoyProcess(config=cfg, extra_args=["--file-flush-interval-msec", "20"]) as env:
        yield env


def log_line(access_log, tag, timeout=30.0):
    """The access log line of the request tagged `tag` (a bounded wait for Envoy's flush)."""
    deadline = time.monotonic() + timeout
    while True:
        if access_log.exists():
            for line in access_log.read_text().splitlines():
                if f"tag={tag} " in line:
                    return line
        assert time.monotonic() < deadline, f"no access log line for {tag}"
        time.sleep(0.02)


def request(envoy, mode="sync"):
    tag = uuid.uuid4().hex
    status, headers, body = envoy.request("meta", headers={"x-tag": tag, "x-mode": mode})
    assert status == 200, body
    return tag, json.loads(dict(headers)["x-meta"])


def test_a_later_filter_reads_what_python_wrote(envoy):
    tag, seen = request(envoy)
    assert seen["tag"] == tag
    assert seen["n"] == 42.0 and seen["n_int"] == 42
    assert seen["ratio"] == 0.5 and seen["flag"] is True
    assert seen["tags"] == ["x", 1.0, False]
    assert seen["late"] is None
    assert seen["missing"] == "dflt" and seen["missing_ns"] == "dflt"
    assert seen["typed_miss"] == "dflt"
    assert seen["keys"] == sorted(["tag", "n", "ratio", "flag", "nothing", "tags", "nested"])
    assert "acme.w" in seen["namespaces"]
    assert seen["bad_source"].startswith("unknown metadata source")
    assert seen["bad_value"].startswith("a metadata value")


def test_route_cluster_host_and_locality_metadata(envoy):
    tag, seen = request(envoy)
    assert seen["route"] == {"team": "payments", "weight": 3.0, "canary": True,
                             "tags": ["a", "b"]}
    assert seen["route_keys"] == sorted(ACME)
    assert seen["route_namespaces"] == ["acme"]
    assert seen["cluster"] == "gold"
    assert seen["host"] == "z1"
    assert seen["locality"] == "eu-1"


def test_the_access_log_prints_what_python_wrote(envoy, access_log):
    tag, _ = request(envoy)
    line = log_line(access_log, tag)
    assert f"tag={tag} n=42 " in line
    assert "logged=yes" in line                      # written in on_log, before the access log
    assert 'nested={"a":{"b":[1,"two"]},"c":"d"}' in line
    assert "flag=true" in line
    assert "late=-" in line


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_writes_from_a_pending_hook_are_applied_when_it_resumes(envoy, access_log, mode):
    tag, seen = request(envoy, mode)
    assert seen["late"] == f"from-{'coroutine' if mode == 'async' else 'thread'}"
    line = log_line(access_log, tag)
    assert f"late=from-{'coroutine' if mode == 'async' else 'thread'}" in line


def test_guessing_types_logs_each_key_once_at_most(envoy):
    for _ in range(3):
        request(envoy)
    log = envoy.log()
    # Each (source, namespace, key) is learned on its first read: one error line per wrong
    # guess in the whole process, not one per request.
    for key in ("n", "ratio", "flag", "tags"):
        assert log.count(f"key {key} is not a string") <= 1, key
