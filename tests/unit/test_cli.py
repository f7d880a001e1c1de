"""The envoy-pyext commands that need no Envoy: check, new, so-path, config's YAML, the entry
points. tests/integration/test_cli.py runs `run`, `config` and `build-so` with the real Envoy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envoy_pyext import cli

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envoy_pyext", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_entry_points():
    assert "run a filter in Envoy" in run_cli("--help").stdout
    script = Path(sys.executable).parent / "envoy-pyext"
    assert script.is_file(), "pip install -e . installs the console script"
    proc = subprocess.run([str(script), "so-path"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and Path(proc.stdout.strip()).is_file()


def test_check_accepts_a_good_filter():
    proc = run_cli("check", "samples.auth_local_reply:ApiKeyAuth", "--config",
                   '{"keys": ["k1"]}')
    assert proc.returncode == 0, proc.stderr
    assert "ok: samples.auth_local_reply:ApiKeyAuth" in proc.stdout
    assert "hooks:  decode_headers" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["samples.auth_local_reply:ApiKeyAuth", "--config", '{"keys": []}'],
     "parse_config rejected the filter_config: ValueError: 'keys' must be a non-empty list"),
    (["no_such_module:X"], "module 'no_such_module' not found"),
    (["samples.add_header:Nope"], "module 'samples.add_header' has no attribute 'Nope'"),
    (["samples.add_header"], "must name a class as 'package.module:ClassName'"),
    (["tests.unit.hook_mistakes:Misspelled"],
     "method 'decode_header' (" ),
    (["tests.unit.hook_mistakes:Misspelled"], "did you mean 'decode_headers'?"),
    (["tests.unit.hook_mistakes:WrongSignature"], "cannot take the runtime's arguments"),
])
def test_check_refuses_with_the_reason(args, message):
    proc = run_cli("check", *args)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr


def test_config_from_a_file(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"keys": ["k9"]}')
    proc = run_cli("check", "samples.auth_local_reply:ApiKeyAuth", "--config", f"@{cfg}")
    assert proc.returncode == 0 and "k9" in proc.stdout
    proc = run_cli("check", "samples.auth_local_reply:ApiKeyAuth", "--config", "@/nonexistent")
    assert proc.returncode == 1 and "No such file" in proc.stderr


def test_new_scaffolds_a_filter_whose_test_passes(tmp_path):
    proc = run_cli("new", "my_filter", "--dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "my_filter.py").is_file() and (tmp_path / "test_my_filter.py").is_file()
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_my_filter.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "2 passed" in test.stdout
    check = run_cli("check", "my_filter:MyFilter", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    again = run_cli("new", "my_filter", "--dir", str(tmp_path))
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_new_refuses_a_bad_name(tmp_path):
    proc = run_cli("new", "my-filter", "--dir", str(tmp_path))
    assert proc.returncode == 1 and "not a usable module name" in proc.stderr


def test_so_path_follows_the_environment(tmp_path, monkeypatch):
    so = tmp_path / "libpyfilter.so"
    so.write_bytes(b"")
    monkeypatch.setenv("PYEXT_SO", str(so))
    assert cli.find_so() == so.resolve()
    monkeypatch.setenv("PYEXT_SO", str(tmp_path / "missing.so"))
    assert cli.find_so() != tmp_path / "missing.so"
    with pytest.raises(cli.CliError, match="no such file"):
        cli.find_so(str(tmp_path / "missing.so"))


def test_listen_and_upstream_options():
    assert cli.parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert cli.parse_listen("8080") == ("127.0.0.1", 8080)
    assert cli.parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(cli.CliError):
        cli.parse_listen("127.0.0.1:http")
    so = Path("/x/libpyfilter.so")
    cfg = cli.envoy_config("m:C", "", so, upstream="https://api.example.com")
    cluster = cfg["static_resources"]["clusters"][0]
    assert cluster["type"] == "STRICT_DNS" and cluster["transport_socket"]["typed_config"][
        "sni"] == "api.example.com"
    route = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert route["auto_host_rewrite"] is True
    with pytest.raises(cli.CliError):
        cli.envoy_config("m:C", "", so, upstream="ftp://x")


def test_yaml_round_trips_through_json_semantics():
    # The YAML printer quotes what YAML would misread; JSON strings are YAML scalars.
    node = {"a": "yes", "b": "x: y", "@type": "t", "n": 0, "t": True, "e": "", "l": [],
            "d": {}, "nested": [{"k": "v", "m": [1, "2"]}]}
    text = cli.to_yaml(node)
    assert '"@type": t' in text and 'a: "yes"' in text and 'b: "x: y"' in text
    assert 'e: ""' in text and "l: []" in text and "d: {}" in text
    assert "- k: v\n" in text and '- "2"' in text and "- 1\n" in text
