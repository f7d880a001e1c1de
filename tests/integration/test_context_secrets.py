"""SDS generic secrets in the real Envoy (filters/context_secrets.py): a secret from a file
(path_config_source, watched directory) is read in sync, async and thread hooks; rewriting the
file (atomic move) gives later requests the new value; a secret the file does not have reads
None; a static bootstrap secret (sds_config None); an unsubscribed name is a clear error; a
subscription Envoy refuses fails the configuration with Envoy's reason."""

import json
import os

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener, wait_for
from envoy_pyext.launcher import EnvoyError

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def write_secret(directory, value):
    tmp = directory / "secret.yaml.tmp"
    tmp.write_text(json.dumps({"resources": [{
        "@type": SECRET_TYPE, "name": "api-key",
        "generic_secret": {"secret": {"inline_string": value}}}]}))
    os.replace(tmp, directory / "secret.yaml")     # atomic: Envoy sees the old or new file


def secrets_config(upstream, directory, secrets):
    src = {"path_config_source": {"path": str(directory / "secret.yaml"),
                                  "watched_directory": {"path": str(directory)}},
           "initial_fetch_timeout": "0.2s"}
    fc = json.dumps({"secrets": {name: (src if kind == "file" else None)
                                 for name, kind in secrets.items()}})
    cfg = bootstrap([listener("s", [filter_entry("filters.context_secrets:Secrets", fc)])],
                    upstream.port)
    cfg["node"] = {"id": "pyext-test", "cluster": "pyext-test"}   # file sources need them
    cfg["static_resources"]["secrets"] = [
        {"name": "static-one", "generic_secret": {"secret": {"inline_string": "st"}}}]
    return cfg


@pytest.fixture(scope="module")
def secret_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sds")
    write_secret(d, "v1")
    return d


@pytest.fixture(scope="module")
def envoy(upstream, secret_dir):
    cfg = secrets_config(upstream, secret_dir,
                         {"api-key": "file", "missing": "file", "static-one": "static"})
    with EnvoyProcess(config=cfg) as env:
        yield env


def read(envoy, mode="sync"):
    status, _, body = envoy.request("s", headers={"x-mode": mode})
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("mode", ["sync", "async", "thread"])
def test_secrets_in_hooks(envoy, mode):
    got = read(envoy, mode)
    assert got["api-key"] in ("v1", "v2")   # v2 once the rotation test ran
    assert got["missing"] is None           # not in the file: never delivered
    assert got["static-one"] == "st"
    assert "'never-subscribed' is not subscribed" in got["error"]
    assert "context.secret('never-subscribed'" in got["error"]


def test_rotated_secret_reaches_later_requests(envoy, secret_dir):
    write_secret(secret_dir, "v1")
    wait_for(lambda: read(envoy)["api-key"] == "v1", "v1")
    write_secret(secret_dir, "v2")
    wait_for(lambda: read(envoy)["api-key"] == "v2", "the rotated secret")
    assert read(envoy, "async")["api-key"] == "v2"
    assert read(envoy, "thread")["api-key"] == "v2"


@pytest.mark.parametrize("secrets, reason", [
    ({"nope": "static"}, "no such static secret"),
])
def test_refused_subscription_fails_the_config(upstream, secret_dir, secrets, reason):
    cfg = secrets_config(upstream, secret_dir, secrets)
    with pytest.raises(EnvoyError) as e:
        with EnvoyProcess(config=cfg):
            pass
    assert reason in str(e.value)
    assert "Envoy could not subscribe to the generic secret 'nope'" in str(e.value)


def test_file_secret_needs_the_node(upstream, secret_dir):
    cfg = secrets_config(upstream, secret_dir, {"api-key": "file"})
    del cfg["node"]
    with pytest.raises(EnvoyError) as e:
        with EnvoyProcess(config=cfg):
            pass
    assert "node 'id' and 'cluster' are required" in str(e.value)
