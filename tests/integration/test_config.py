"""Loading filter configurations: bad ones refuse to start with a message naming the problem
(also under `envoy --mode validate`); good ones can share one Envoy."""

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import upstream_view
from .harness import (SO_PATH, EnvoyProcess, bootstrap, envoy_binary, envoy_env, filter_entry,
                      listener)

BAD = {
    "missing module": ("filters.does_not_exist:Foo", "",
                       "cannot load filter 'filters.does_not_exist:Foo': module "
                       "'filters.does_not_exist' not found"),
    "syntax error": ("filters.broken_syntax:Broken", "",
                     "cannot load filter 'filters.broken_syntax:Broken': syntax error in"),
    "missing class": ("filters.probe:Nope", "",
                      "module 'filters.probe' has no attribute 'Nope'"),
    "not a Filter": ("filters.not_a_filter:NotAFilter", "",
                     "'filters.not_a_filter:NotAFilter' is not a subclass of envoy_pyext.Filter"),
    "not a class": ("filters.not_a_filter:not_a_class", "",
                    "'filters.not_a_filter:not_a_class' is not a subclass of envoy_pyext.Filter"),
    "no colon": ("filters.probe", "", "must name a class as 'package.module:ClassName'"),
    "import raises": ("filters.raises_on_import:X", "",
                      "RuntimeError: this module refuses to be imported"),
    "parse_config raises": ("samples.auth_local_reply:ApiKeyAuth", '{"keys": []}',
                            "ApiKeyAuth: parse_config rejected the filter_config: ValueError: "
                            "'keys' must be a non-empty list of API keys"),
    "parse_config bad json": ("filters.probe:ConfigEcho", "{not json",
                              "parse_config rejected the filter_config: JSONDecodeError"),
}


def run_envoy(config: dict, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "envoy.json"
        path.write_text(json.dumps(config))
        return subprocess.run(
            [envoy_binary(), "-c", str(path), "-l", "warning", "--concurrency", "1",
             "--disable-hot-restart", "--use-dynamic-base-id", *extra],
            env=envoy_env(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["run", "validate"])
@pytest.mark.parametrize("case", BAD)
def test_bad_configuration_is_refused_with_its_reason(case, mode):
    filter_name, filter_config, message = BAD[case]
    config = bootstrap([listener("l", [filter_entry(filter_name, filter_config)])], 9)
    extra = ("--mode", "validate") if mode == "validate" else ()
    result = run_envoy(config, *extra)
    output = result.stdout + result.stderr
    assert message in output, output[-3000:]
    assert "Failed to create filter config" in output
    assert result.returncode != 0


def test_several_filter_configs_in_one_envoy(upstream):
    # Three DynamicModuleFilter entries, two classes, one .so: a chain on one listener plus a
    # listener of its own, each with its own parsed config.
    filters = {
        "chain": [("filters.probe:ConfigEcho", '{"n": 1}'), ("samples.add_header:AddHeader", "hi")],
        "solo": ("filters.probe:ConfigEcho", '{"n": 2}'),
    }
    with EnvoyProcess(filters, upstream.port) as env:
        status, headers, body = env.request("chain", headers={"x-user": "dana"})
        assert status == 200
        h = upstream_view(body)["h"]
        assert json.loads(h["x-config"][0]) == {"parsed": {"n": 1}}
        assert h["x-seen"] == ["1"]
        assert ("x-greeting", "hi") in [(k.lower(), v) for k, v in headers]
        status, _, body = env.request("solo")
        assert json.loads(upstream_view(body)["h"]["x-config"][0]) == {"parsed": {"n": 2}}


def test_init_runs_per_stream_with_config(upstream):
    with EnvoyProcess({"init": ("filters.probe:InitState", "cfg")}, upstream.port) as env:
        for _ in range(3):  # a fresh Filter per stream: the count never goes past 1
            status, _, body = env.request("init")
            assert status == 200
            assert upstream_view(body)["h"]["x-init"] == ["1:cfg"]


def test_sample_config_file_validates(tmp_path):
    root = Path(__file__).resolve().parents[2]
    # The file as shipped, pointed at the module under test (make test-matrix builds one per
    # Python version; the file names ./libpyfilter.so).
    text = (root / "envoy-golang.yaml").read_text()
    assert "filename: ./libpyfilter.so" in text
    cfg = tmp_path / "envoy-golang.yaml"
    cfg.write_text(text.replace("filename: ./libpyfilter.so", f"filename: {SO_PATH}"))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(cfg), "-l", "warning"],
        cwd=root, env=envoy_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


@pytest.mark.parametrize("active_venv", [True, False], ids=["VIRTUAL_ENV set", "no VIRTUAL_ENV"])
def test_embedded_python_uses_the_virtualenv(upstream, active_venv):
    import sys

    with EnvoyProcess({"venv": ("filters.probe:VenvProbe", "")}, upstream.port) as env:
        if not active_venv:  # then the venv libpyfilter.so was built with (baked in)
            env.stop()
            env.env.pop("VIRTUAL_ENV", None)
            env.start()
        status, _, body = env.request("venv")
        assert status == 200, body
        seen = json.loads(body)
        assert seen["in_envoy"] is True
        assert seen["prefix"] == sys.prefix
        assert seen["hypothesis"].startswith(sys.prefix)
