"""filter_state.set_object/get_object with `interpreter: per_worker` (docs/api.md "Interpreters"):
per_worker filters of one chain share their objects (request and connection life spans, over
HTTP/1.1 keep-alive and HTTP/2); a filter of the other interpreter finds the entry but gets
EnvoyPyextError from get_object; each object is dropped once, in the interpreter that made it
(Token.__del__ counts it in envoy_pyext.shared), also when Envoy drops it inside another
interpreter's hook and after its configuration was removed (ECDS)."""

from __future__ import annotations

import json

import pytest

from .conftest import upstream_view
from .harness import SO_PATH, EnvoyProcess, bootstrap, filter_entry, listener, wait_for
from .test_hangs import H2Conn
from .test_interpreters import balanced, needs_312, spec
from .test_reload import DMF, put

MODULE = "filters.interp_state"
pytestmark = needs_312


def entry(cls: str, config: str, interpreter: str = "per_worker") -> dict:
    return filter_entry(config, spec(f"{MODULE}:{cls}", config, interpreter))


@pytest.fixture(scope="module")
def envoy(upstream):
    listeners = [
        # two per_worker filters of one chain
        listener("pp", [entry("Producer", "p"), entry("Consumer", "c")]),
        # the shared interpreter's object: a per_worker filter cannot have it, a shared one can
        listener("sp", [entry("Producer", "p", "shared"), entry("Consumer", "c"),
                        entry("Consumer", "m", "shared"), entry("Replacer", "r")]),
        # a per_worker filter's object: a shared filter cannot have it, and may replace it
        listener("ps", [entry("Producer", "p"), entry("Consumer", "m", "shared"),
                        entry("Replacer", "r", "shared"), entry("Consumer", "c")]),
        listener("report", [entry("Report", "report", "shared")]),
    ]
    with EnvoyProcess(config=balanced(bootstrap(listeners, upstream.port)),
                      concurrency=2) as env:
        yield env
        assert "raised" not in env.log()


def counters(envoy, *keys: str) -> dict:
    status, _, body = envoy.request("report", headers={"x-keys": ",".join(keys)})
    assert status == 200, body
    return json.loads(body)


def freed(envoy, tag: str) -> int:
    return counters(envoy, f"interp_fs.freed.{tag}")[f"interp_fs.freed.{tag}"]


def assert_freed_once_in_its_interpreter(envoy, tag: str) -> None:
    wait_for(lambda: freed(envoy, tag) == 1, f"the object {tag} dropped")
    got = counters(envoy, f"interp_fs.freed.{tag}", f"interp_fs.wrong_interp.{tag}")
    assert got == {f"interp_fs.freed.{tag}": 1, f"interp_fs.wrong_interp.{tag}": 0}


class Client:
    """One connection to a listener: HTTP/1.1 keep-alive or HTTP/2; get() returns what the
    upstream received (its request headers, name -> first value)."""

    def __init__(self, envoy, name: str, proto: str):
        self.proto = proto
        self.conn = envoy.connect(name) if proto == "h1" else H2Conn(envoy.ports[name])

    def get(self, headers: dict) -> dict:
        if self.proto == "h1":
            self.conn.request("GET", "/", headers=headers)
            resp = self.conn.getresponse()
            status, body = resp.status, resp.read()
        else:
            r = self.conn.response(self.conn.start("GET", "/", list(headers.items()), True))
            status, body = r.status, r.body
        assert status == 200, body
        return {k: v[0] for k, v in upstream_view(body)["h"].items()}

    def close(self) -> None:
        self.conn.close()


def one_request(envoy, name: str, proto: str, headers: dict) -> dict:
    """What the upstream received of one request on a connection of its own."""
    client = Client(envoy, name, proto)
    try:
        return client.get(headers)
    finally:
        client.close()


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("span", ["request", "connection"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_per_worker_filters_of_one_chain_share_objects(envoy, proto, span, mode):
    tags = [f"pp-{proto}-{span}-{mode}-{i}" for i in range(3)]
    client = Client(envoy, "pp", proto)
    try:
        seen = [client.get({"x-tag": tag, "x-span": span, "x-async": str(int(mode == "async"))})
                for tag in tags]
        if span == "connection":    # the connection's first object, kept while it is open
            assert freed(envoy, tags[0]) == 0
    finally:
        client.close()
    interp = seen[0]["x-p-interp"]
    assert interp != "0"                        # a worker's sub-interpreter, not the main one
    for tag, h in zip(tags, seen):
        assert h["x-p-interp"] == h["x-c-interp"] == interp     # one worker, one interpreter
        kept = tag if span == "request" else tags[0]
        assert h["x-c-saw"] == f"{kept}@{interp}"
        assert "x-c-error" not in h
    for tag in (tags if span == "request" else tags[:1]):
        assert_freed_once_in_its_interpreter(envoy, tag)
    if span == "connection":
        assert counters(envoy, f"interp_fs.freed.{tags[1]}")[f"interp_fs.freed.{tags[1]}"] == 0


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("replace", [False, True])
def test_a_per_worker_filter_cannot_have_the_shared_interpreters_object(envoy, proto, replace):
    tag = f"sp-{proto}-{replace}"
    h = one_request(envoy, "sp", proto, {"x-tag": tag, "x-replace": "1" if replace else "0"})
    if replace:
        # The per_worker filter's object replaced the shared one: Envoy dropped that inside
        # the per_worker interpreter's hook, and the drop ran in the shared interpreter.
        assert h["x-r-replaced"] == "yes"
        assert_freed_once_in_its_interpreter(envoy, f"{tag}.replacement")
    assert h["x-p-interp"] == h["x-m-interp"] == "0" != h["x-c-interp"]
    assert h["x-c-has"] == "True"
    assert "x-c-saw" not in h
    assert h["x-c-error"].startswith("filter state object 'acme.token.request' was stored by "
                                     "a filter of another interpreter")
    assert h["x-m-saw"] == f"{tag}@0"                          # the shared filter has it
    assert_freed_once_in_its_interpreter(envoy, tag)


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("replace", [False, True])
def test_a_shared_filter_cannot_have_a_per_worker_filters_object(envoy, proto, replace):
    tag = f"ps-{proto}-{replace}"
    h = one_request(envoy, "ps", proto, {"x-tag": tag, "x-replace": "1" if replace else "0"})
    interp = h["x-p-interp"]
    assert interp != "0" and h["x-m-interp"] == "0" and h["x-c-interp"] == interp
    assert h["x-m-has"] == "True" and "x-m-saw" not in h
    assert "another interpreter" in h["x-m-error"]
    if replace:
        # The shared filter's object replaced the per_worker one: Envoy dropped that inside
        # the shared interpreter's hook, and the drop ran in the per_worker interpreter.
        assert h["x-r-replaced"] == "yes"
        assert "another interpreter" in h["x-c-error"]
        assert_freed_once_in_its_interpreter(envoy, tag)
        assert_freed_once_in_its_interpreter(envoy, f"{tag}.replacement")
    else:
        assert h["x-c-saw"] == f"{tag}@{interp}"
        assert_freed_once_in_its_interpreter(envoy, tag)


def ecds_file(version: int) -> dict:
    return {"version_info": str(version), "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": "pyext", "typed_config": {
            "@type": DMF, "filter_name": f"v{version}",
            "dynamic_module_config": {"module": {"local": {"filename": str(SO_PATH)}},
                                      "do_not_close": True},
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {
                "class": f"{MODULE}:Producer", "config": f"v{version}",
                "interpreter": "per_worker"}}}}]}


def test_a_removed_configuration_lives_until_its_connection_object_is_dropped(tmp_path,
                                                                             upstream):
    """ECDS replaces the producer's configuration while a connection keeps the object it
    stored: Envoy keeps the old configuration (and so its interpreter's FilterConfig) until
    the object is dropped, the object stays readable, and closing the connection drops it in
    its interpreter, then frees the old configuration there; Envoy lives on."""
    path = tmp_path / "ecds.json"
    put(path, ecds_file(1))
    app = listener("app", [{"name": "pyext", "config_discovery": {
        "config_source": {"path_config_source": {"path": str(path)},
                          "resource_api_version": "V3"},
        "type_urls": [DMF]}}, entry("Consumer", "c"), entry("LiveConfigs", "n")])
    config = bootstrap([app, listener("report", [entry("Report", "report", "shared")])],
                       upstream.port)
    config["node"] = {"id": "interp-fs-test", "cluster": "interp-fs-test"}
    tag = "ecds-conn"
    # One worker: every connection is served by the same interpreter.
    with EnvoyProcess(config=config, concurrency=1) as envoy:
        client = Client(envoy, "app", "h1")
        try:
            first = client.get({"x-tag": tag, "x-span": "connection"})
            interp = first["x-v1-interp"]
            assert first["x-c-saw"] == f"{tag}@{interp}"
            assert first["x-n-live"] == "3"          # v1, the consumer, this filter
            put(path, ecds_file(2))
            later = wait_for(lambda: (h := client.get({"x-tag": "unused", "x-span": "connection"}))
                             and "x-v2-interp" in h and h, "v2 on the connection's streams")
            assert later["x-n-live"] == "4"          # v1 kept: its object lives
            assert later["x-c-saw"] == f"{tag}@{interp}"
            assert freed(envoy, tag) == 0
        finally:
            client.close()
        assert_freed_once_in_its_interpreter(envoy, tag)
        wait_for(lambda: fresh_live(envoy) == "3", "v1 freed once its object was dropped")
        assert freed(envoy, "unused") == 0          # never stored: the connection had one
        assert envoy.alive()
        assert "raised" not in envoy.log()


def fresh_live(envoy) -> str:
    return one_request(envoy, "app", "h1", {"x-tag": "fresh", "x-span": "request"})["x-n-live"]
