"""Runtime values in the real Envoy (filters/context_secrets.py: Runtime). Envoy 1.40's
getters answer real values on its main thread only (a worker gets the default: measured
below through a key first read in a hook); envoy_pyext.runtime reads on the main thread and
remembers: parse_config sees the static layer, hooks see the same values, a key first read
in a hook is the default until the next main-thread refresh, and an admin-layer change
(POST /runtime_modify) reaches the hooks with the periodic refresh."""

import json
import urllib.request

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener, wait_for

STATIC = {"pyext.flag": True, "pyext.limit": 42, "pyext.ratio": 0.25, "pyext.unseen": 9}


@pytest.fixture(scope="module")
def envoy(upstream):
    cfg = bootstrap([listener("rt", [filter_entry("filters.context_secrets:Runtime")])],
                    upstream.port)
    cfg["layered_runtime"] = {"layers": [
        {"name": "static", "static_layer": STATIC},
        {"name": "admin", "admin_layer": {}}]}
    with EnvoyProcess(config=cfg) as env:
        yield env


def read(envoy, **headers):
    status, _, body = envoy.request("rt", headers=headers)
    assert status == 200, body
    return json.loads(body)


def runtime_modify(envoy, **values):
    query = "&".join(f"{k}={v}" for k, v in values.items())
    req = urllib.request.Request(f"http://127.0.0.1:{envoy.admin_port}/runtime_modify?{query}",
                                 method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def test_values_at_load_and_in_hooks(envoy):
    got = read(envoy)
    expected = {"pyext.flag": True, "pyext.limit": 42, "pyext.ratio": 0.25}
    assert got["at_load"] == expected           # read on Envoy's main thread
    assert got["in_hook"] == expected           # the worker gets the remembered values


def test_key_first_read_in_a_hook_is_default_then_real(envoy):
    # Envoy's own getter on the worker answers the default: so does the first read here...
    assert read(envoy, **{"x-unseen": "pyext.unseen"})["unseen"] == 3
    # ... and the main thread reads the key at the next refresh (about a second).
    wait_for(lambda: read(envoy, **{"x-unseen": "pyext.unseen"})["unseen"] == 9,
             "the refreshed runtime value")


def test_admin_layer_change_reaches_hooks(envoy):
    runtime_modify(envoy, **{"pyext.limit": 77, "pyext.flag": "false"})
    try:
        got = wait_for(lambda: (g := read(envoy))["in_hook"]["pyext.limit"] == 77 and g,
                       "the admin-layer value in the hook")
        assert got["in_hook"]["pyext.flag"] is False
        assert got["at_load"]["pyext.limit"] == 42  # what parse_config read stays as it was
    finally:
        runtime_modify(envoy, **{"pyext.limit": "", "pyext.flag": ""})  # back to static
    wait_for(lambda: read(envoy)["in_hook"]["pyext.limit"] == 42, "the static value again")
