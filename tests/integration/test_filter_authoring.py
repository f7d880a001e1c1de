"""What a filter's author sees in Envoy: hook mistakes refuse the configuration (tests/unit/
test_hook_checks.py has every case), and log lines and tracebacks point at the filter's code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .harness import EnvoyProcess, bootstrap, filter_entry, listener
from .test_config import run_envoy

FILTERS = Path(__file__).resolve().parent / "filters" / "authoring.py"


def line_of(tag: str) -> int:
    for n, text in enumerate(FILTERS.read_text().splitlines(), 1):
        if f"# LINE:{tag}" in text:
            return n
    raise AssertionError(tag)


REFUSED = {
    "misspelled": ("tests.unit.hook_mistakes:Misspelled",
                   "method 'decode_header' ", "did you mean 'decode_headers'?"),
    "signature": ("tests.unit.hook_mistakes:WrongSignature",
                  "hook decode_headers(self, headers)", "cannot take the runtime's arguments"),
    "generator": ("tests.unit.hook_mistakes:Generator", "hook decode_headers",
                  "is a generator function"),
    "parse_config": ("tests.unit.hook_mistakes:ParseConfigNotClassmethod",
                     "parse_config(raw)", "(is @classmethod missing?)"),
}


@pytest.mark.parametrize("mode", ["run", "validate"])
@pytest.mark.parametrize("case", REFUSED)
def test_hook_mistakes_refuse_the_configuration(case, mode):
    filter_name, *messages = REFUSED[case]
    config = bootstrap([listener("l", [filter_entry(filter_name)])], 9)
    result = run_envoy(config, *(("--mode", "validate") if mode == "validate" else ()))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the filter class is refused" in output, output[-3000:]
    for message in messages:
        assert message in output, output[-3000:]


def test_opted_out_names_load_and_serve(upstream):
    with EnvoyProcess({"ok": ("tests.unit.hook_mistakes:MisspelledAllowed", "")},
                      upstream.port) as env:
        status, _, _ = env.request("ok")
        assert status == 200


def test_log_lines_and_tracebacks_point_at_the_filter(upstream):
    filters = {"sync": ("filters.authoring:LogsAndRaises", ""),
               "async": ("filters.authoring:AsyncRaises", "")}
    with EnvoyProcess(filters, upstream.port) as env:
        assert env.request("sync")[0] == 200
        assert env.request("sync", headers={"x-raise": "v"})[0] == 500
        assert env.request("async")[0] == 500
        log = env.log()
    where = str(FILTERS)
    assert f"[{where}:{line_of('callbacks')}] callbacks.log line" in log, log[-3000:]
    assert f"[{where}:{line_of('logging')}] authoring: logging line" in log, log[-3000:]
    # The error line names the innermost frame of the filter's code; the traceback shows the
    # filter's frames and collapses the runtime's.
    for hook in ("LogsAndRaises.decode_headers raised; answering 500",
                 "AsyncRaises.decode_headers raised; answering 500"):
        m = re.search(r"\[([^\]]+)\] envoy-pyext: filters\.authoring:" + re.escape(hook)
                      + r":\n(Traceback.*?ValueError: bad value [^\n]*)", log, re.S)
        assert m, log[-4000:]
        assert m[1] == f"{where}:{line_of('helper')}"
        tb = m[2]
        assert f'File "{where}", line {line_of("helper")}, in helper_that_raises' in tb
        assert ".pxi" not in tb and "_native.pyx" not in tb
        assert "envoy-pyext runtime frame" in tb
