"""Stream control in the real Envoy, over HTTP/1.1 and HTTP/2, from a sync hook, a coroutine
that left the worker, and a thread after Status.RUNNING (filters/context_control.py):

- reset_stream: the client sees the reset (HTTP/1.1: the connection closes without a
  response; HTTP/2: RST_STREAM), nothing reaches the upstream, no later hook of the stream runs;
- send_go_away_and_close: HTTP/2 gets a GOAWAY and the connection closes; HTTP/1.1 closes;
- recreate_stream: the request starts again, re-routed by the header the filter set, to
  another cluster; a request whose body has not arrived is refused (the stream goes on), one
  whose body Envoy holds is recreated with its body;
- a second end is refused, and after destroy every control raises StreamDestroyedError.
"""

import json
import socket

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener, wait_for
from .test_context_routing import cluster

MODES = ["sync", "async", "thread"]
PROTOCOLS = ["http1", "http2"]


@pytest.fixture(scope="module")
def envoy(upstream, side):
    routes = {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"name": "to-side", "match": {"prefix": "/", "headers": [
            {"name": "x-target", "string_match": {"exact": "side"}}]},
         "route": {"cluster": "side", "timeout": "30s"}},
        {"name": "default", "match": {"prefix": "/"},
         "route": {"cluster": "upstream", "timeout": "30s"}}]}]}
    cfg = bootstrap([listener("c", [filter_entry("filters.context_control:Control")],
                              hcm_extra={"route_config": routes})], upstream.port)
    cfg["static_resources"]["clusters"].append(cluster("side", side.port))
    with EnvoyProcess(config=cfg) as env:
        yield env


def h2_exchange(port, headers, body=None, timeout=10.0):
    """One HTTP/2 (prior knowledge) request; returns {"status", "body", "events"} where
    events names what ended it: "end", "reset:<code>", "goaway:<code>", "closed"."""
    out = {"status": None, "body": b"", "events": []}
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                header_encoding="utf-8"))
    try:
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST" if body is not None else "GET"),
                                (":path", "/"), (":scheme", "http"), (":authority", "envoy"),
                                *headers.items()], end_stream=body is None)
        if body is not None:
            conn.send_data(sid, body, end_stream=True)
        sock.sendall(conn.data_to_send())
        while not out["events"]:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                out["events"].append("closed")
                break
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                events = []     # frames after a GOAWAY: the connection is over anyway
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived):
                    out["status"] = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    out["body"] += ev.data
                elif isinstance(ev, h2.events.StreamEnded):
                    out["events"].append("end")
                elif isinstance(ev, h2.events.StreamReset):
                    out["events"].append(f"reset:{int(ev.error_code)}")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    out["events"].append(f"goaway:{int(ev.error_code)}")
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    return out


def h1_exchange(envoy, headers, body=None):
    """One HTTP/1.1 request; {"status", "body", "events"} ("end" or "closed")."""
    try:
        status, _, data = envoy.request("c", method="POST" if body is not None else "GET",
                                        headers=headers, body=body)
    except ConnectionError:     # RemoteDisconnected, reset by peer: closed without a response
        return {"status": None, "body": b"", "events": ["closed"]}
    return {"status": status, "body": data, "events": ["end"]}


def exchange(envoy, proto, headers, body=None):
    if proto == "http2":
        return h2_exchange(envoy.ports["c"], headers, body)
    return h1_exchange(envoy, headers, body)


def events(envoy):
    status, _, body = envoy.request("c", headers={"x-do": "report"})
    assert status == 200
    return json.loads(body)


@pytest.fixture(autouse=True)
def clear(envoy):
    assert envoy.request("c", headers={"x-do": "clear"})[0] == 200


def ended(envoy, tag):
    """The events of a stream the filter ended, once Envoy destroyed it (bounded wait)."""
    got = wait_for(lambda: [e for e in events(envoy) if e.endswith(tag)]
                   if any(e == f"late-destroyed:{tag}" for e in events(envoy)) else None,
                   f"the stream {tag} destroyed")
    assert got.count(f"late-destroyed:{tag}") == 3     # reset, recreate, goaway after destroy
    assert not any(e.startswith(("decode_data", "encode_headers")) and e.endswith(tag)
                   for e in got), got                  # no hook of the stream ran after
    assert "second:True" in events(envoy)              # a second end was refused
    return got


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("mode", MODES)
def test_reset_stream(envoy, upstream, proto, mode):
    n = len(upstream.received)
    r = exchange(envoy, proto, {"x-do": "reset", "x-mode": mode})
    assert r["status"] is None
    assert r["events"] == (["reset:2"] if proto == "http2" else ["closed"])
    ended(envoy, f"reset:{mode}")
    assert len(upstream.received) == n


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("graceful", [True, False])
def test_send_go_away_and_close(envoy, upstream, proto, mode, graceful):
    n = len(upstream.received)
    do = "goaway" if graceful else "goaway-hard"
    r = exchange(envoy, proto, {"x-do": do, "x-mode": mode})
    assert r["status"] is None
    if proto == "http2":
        assert r["events"][0].startswith("goaway:") or r["events"] == ["closed"], r
    else:
        assert r["events"] == ["closed"]
    ended(envoy, f"{do}:{mode}")
    assert len(upstream.received) == n


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("mode", MODES)
def test_recreate_stream_reroutes(envoy, upstream, side, proto, mode):
    n_up, n_side = len(upstream.received), len(side.received)
    r = exchange(envoy, proto, {"x-do": "recreate", "x-mode": mode})
    assert (r["status"], r["events"]) == (200, ["end"])
    seen = json.loads(r["body"])
    assert ["x-recreated", "1"] in seen["headers"] and ["x-target", "side"] in seen["headers"]
    assert (len(upstream.received), len(side.received)) == (n_up, n_side + 1)
    got = ended(envoy, f"recreate:{mode}")
    assert f"recreated:{mode}" in events(envoy)     # the new stream ran the filter again
    assert got


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_recreate_with_a_body(envoy, upstream, side, proto, mode):
    # sync: at the request headers of a POST its body is still to come: Envoy refuses, the
    # filter gets EnvoyPyextError and the request goes on to its original route, body intact.
    # async: the coroutine leaves the worker; meanwhile the body arrives and Envoy holds it;
    # when the recreate is applied the whole request is there: recreated, body included.
    n_up, n_side = len(upstream.received), len(side.received)
    r = exchange(envoy, proto, {"x-do": "recreate", "x-mode": mode}, body=b"abc")
    assert (r["status"], r["events"]) == (200, ["end"])
    assert json.loads(r["body"])["body"] == "abc"
    recreated = mode == "async"
    assert (len(upstream.received), len(side.received)) == (n_up + (not recreated),
                                                            n_side + recreated)
    got = events(envoy)
    if recreated:
        assert "recreated:async" in got
    else:
        assert "refused:sync:True" in got and "decode_data:recreate:sync:3" in got
