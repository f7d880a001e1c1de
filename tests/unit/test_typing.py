# envoy-pyext: Apache-2.0
"""The type stubs (src/envoy_pyext/_native.pyi) under ``mypy --strict``.

Two mypy runs in all (one is ~1 s; one run per file would be slow): the samples together with
a filter that uses the whole public API must type-check cleanly; a set of small filters, each
with one mistake, must each be rejected with the right error on the line of the mistake.
Then mypy's stubtest checks that the stub and the compiled module agree, so that API added to
native/*.pxi without its stub (or a stub entry without runtime code) fails here.
mypy is in requirements-dev.txt: a missing mypy fails these tests, it does not skip them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
SAMPLES = ROOT / "samples"

# path:line: severity: message  [code]
_LINE = re.compile(r"^(?P<path>.+?\.py):(?P<line>\d+): (?P<sev>error|note): (?P<msg>.*)$")


class MypyRun:
    def __init__(self, returncode: int, output: str, messages: dict[str, list[tuple[int, str]]]):
        self.returncode = returncode
        self.output = output
        self.messages = messages  # file name -> [(line, "message  [code]")] for errors
        # "Success: no issues found in N source files" / "Found ... (checked N source files)"
        m = re.search(r"(?:found in|checked) (\d+) source files?", output)
        self.checked = int(m[1]) if m else -1

    def errors(self, name: str) -> list[tuple[int, str]]:
        return self.messages.get(name, [])


def run_mypy(paths: list[Path], cache_dir: Path) -> MypyRun:
    """One `mypy --strict` run over `paths`, seeing the package in src/ (the stub, not the
    compiled module) and ignoring any mypy configuration of the project or the user."""
    assert importlib.util.find_spec("mypy") is not None, (
        "mypy is not installed: pip install -r requirements-dev.txt")
    env = dict(os.environ, MYPYPATH=str(SRC))
    env.pop("MYPY_CACHE_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file=", "--cache-dir", str(cache_dir),
         "--no-color-output", "--show-error-codes", "--hide-error-context",
         *map(str, paths)],
        cwd=cache_dir, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    messages: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in output.splitlines():
        m = _LINE.match(line)
        if m and m["sev"] == "error":
            messages[Path(m["path"]).name].append((int(m["line"]), m["msg"]))
    if proc.returncode not in (0, 1):  # 2: mypy itself failed (bad arguments, crash, ...)
        pytest.fail(f"mypy failed (exit {proc.returncode}):\n{output}")
    return MypyRun(proc.returncode, output, dict(messages))


# A correct filter using the whole public API as docs/api.md describes it; assert_type pins
# the types the stub gives (a stub that degraded to Any would fail here).
GOOD_FILTER = '''
import asyncio
import logging
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import assert_type

import envoy_pyext
from envoy_pyext import (
    FEATURES, Buffer, Callbacks, EnvoyLogHandler, EnvoyPyextError, Filter, FilterConfigError,
    HeaderMap, Status, StreamDestroyedError, WrongThreadError, event_loop, in_envoy,
    reset_pending_peak, stats,
)

_pool = ThreadPoolExecutor(2)


class Everything(Filter):
    fail_open = True

    @classmethod
    def parse_config(cls, raw: str) -> dict[str, str]:
        return {"raw": raw}

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        user = headers.get("x-user", "anonymous")
        assert_type(user, str)
        maybe = headers.get("x-maybe")
        assert_type(maybe, str | None)
        raw = headers.get_bytes(b"x-raw")
        assert_type(raw, bytes | None)
        assert_type(headers.get_all("accept"), list[str])
        assert_type(headers["x-user"], str)
        headers["x-seen"] = "1"
        headers[b"x-bytes"] = b"v"
        headers.set("x-count", 3)
        headers.add("x-user", user)
        headers.remove("x-drop")
        del headers["x-del"]
        for name in headers:
            self.seen.append(name)
        for k, v in headers.items():
            self.seen.append(k + v)
        for kb, vb in headers.raw_items():
            self.seen.append((kb + vb).decode())
        if "x-stop" in headers and len(headers) > 0 and headers.keys():
            return Status.STOP_AND_BUFFER
        if maybe is None or raw is None:
            return self.callbacks.send_local_reply(
                401, body="no", headers={"www-authenticate": "ApiKey"}, details="rejected")
        if headers["x-pairs"]:
            return self.callbacks.send_local_reply(
                400, b"bad\\n", [("x-a", "1"), ("x-a", 2), (b"x-b", b"3")])
        if self.config["raw"] == "copy":
            return self.callbacks.send_local_reply(200, headers=self.request_headers)
        _pool.submit(self.work)
        return Status.RUNNING

    def work(self) -> None:  # on a pool thread
        try:
            if self.request_headers.get("x-user") == "alice":
                self.callbacks.continue_request()
            else:
                self.callbacks.send_local_reply(403)
        except (StreamDestroyedError, WrongThreadError) as e:
            logging.getLogger(__name__).warning("gone: %s", e)

    def decode_data(self, buf: Buffer, eos: bool) -> Status | None:  # any argument names
        view = memoryview(buf)
        first = bytes(view[:1])
        whole = bytes(buf)
        assert_type(buf.to_bytes(), bytes)
        buf.set(whole + first)
        buf.append(bytearray(b"!"))
        buf.prepend("> ")
        buf.drain(1)
        if len(buf) > 10:
            buf.clear()
        self.callbacks.buffer_limit = 8 << 20
        limit = self.callbacks.buffer_limit + self.callbacks.worker_index
        assert_type(limit, int)
        self.callbacks.log("info", f"limit {limit}")
        self.callbacks.log(logging.WARNING, limit)
        return Status.CONTINUE if eos else Status.STOP_AND_BUFFER_WATERMARK

    def decode_trailers(self, trailers: HeaderMap) -> None:
        trailers["x-t"] = "1"

    async def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        await asyncio.sleep(0)
        if self.response_headers.get(":status") == "500":
            return Status.STOP_NO_BUFFER
        return None

    def encode_data(self, buffer: Buffer, end_stream: bool) -> Awaitable[Status | None]:
        return asyncio.sleep(0, result=Status.LOCAL_REPLY)  # a plain def returning an awaitable

    async def encode_trailers(self, trailers: HeaderMap) -> None:
        self.response_trailers.add("x-t", "2")
        assert_type(self.request_trailers, HeaderMap)
        assert_type(self.request_body, Buffer)
        assert_type(self.response_body, Buffer)

    async def on_log(self) -> None:
        await asyncio.sleep(0)

    def on_destroy(self) -> None:
        self.seen.clear()


def runtime() -> None:
    counters = stats()
    assert_type(counters, dict[str, int])
    reset_pending_peak()
    loop = event_loop()
    assert_type(loop, asyncio.AbstractEventLoop)
    loop.call_soon_threadsafe(print, counters["pending_peak"], in_envoy(), "async" in FEATURES)
    logging.getLogger().addHandler(EnvoyLogHandler())
    code: int = Status.RUNNING + 0
    assert Status(code) is Status.RUNNING and Status["CONTINUE"] is Status.CONTINUE
    for err in (EnvoyPyextError, StreamDestroyedError, WrongThreadError, FilterConfigError):
        assert issubclass(err, Exception)
    assert envoy_pyext.Callbacks is Callbacks
'''

_IMPORTS = "from envoy_pyext import Buffer, Filter, HeaderMap, Status\n\n\n"

# One file per mistake: (file name, source, expected error: (message regex, error code)).
# The mistake's line ends with `# <-`; every error of the file must be on that line.
BAD = [
    ("status_typo", '''
        class F(Filter):
            def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
                return Status.CONTINU  # <-
     ''', (r'"type\[Status\]" has no attribute "CONTINU"', "attr-defined")),
    ("headers_hook_without_end_stream", '''
        class F(Filter):
            def decode_headers(self, headers):  # <-
                pass
     ''', (r'Signature of "decode_headers" incompatible with supertype', "override")),
    ("headers_hook_without_end_stream_annotated", '''
        class F(Filter):
            def encode_headers(self, headers: HeaderMap) -> None:  # <-
                pass
     ''', (r'Signature of "encode_headers" incompatible with supertype', "override")),
    ("data_hook_extra_argument", '''
        class F(Filter):
            def decode_data(self, buf, end_stream, extra):  # <-
                pass
     ''', (r'Signature of "decode_data" incompatible with supertype', "override")),
    ("trailers_hook_with_end_stream", '''
        class F(Filter):
            def encode_trailers(self, trailers: HeaderMap, end_stream: bool) -> None:  # <-
                pass
     ''', (r'Signature of "encode_trailers" incompatible with supertype', "override")),
    ("data_hook_wrong_argument_type", '''
        class F(Filter):
            def encode_data(self, buffer: bytes, end_stream: bool) -> None:  # <-
                pass
     ''', (r'Argument 1 of "encode_data" is incompatible with supertype', "override")),
    ("local_reply_status_str", '''
        class F(Filter):
            def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
                return self.callbacks.send_local_reply("401")  # <-
     ''', (r'Argument 1 to "send_local_reply" of "Callbacks" has incompatible type "str"; '
           r'expected "int"', "arg-type")),
    ("hook_returns_int", '''
        class F(Filter):
            def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
                return 1  # <-
     ''', (r'Incompatible return value type \(got "int", expected "Status \| None"\)',
           "return-value")),
    ("async_hook_returns_str", '''
        class F(Filter):
            async def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
                return "ok"  # <-
     ''', (r'Incompatible return value type \(got "str", expected "Status \| None"\)',
           "return-value")),
    ("hook_declared_to_return_int", '''
        class F(Filter):
            def decode_trailers(self, trailers: HeaderMap) -> int:  # <-
                return 1
     ''', (r'Return type "int" of "decode_trailers" incompatible with return type', "override")),
    ("async_hook_declared_to_return_str", '''
        class F(Filter):
            async def encode_headers(self, headers: HeaderMap, end_stream: bool) -> str:  # <-
                return "ok"
     ''', (r'Return type "Coroutine\[Any, Any, str\]" of "encode_headers" incompatible',
           "override")),
    ("body_write_int", '''
        class F(Filter):
            def decode_data(self, buffer: Buffer, end_stream: bool) -> None:
                buffer.append(42)  # <-
     ''', (r'Argument 1 to "append" of "Buffer" has incompatible type "int"', "arg-type")),
    ("fail_open_on_instance", '''
        class F(Filter):
            def on_log(self) -> None:
                self.fail_open = True  # <-
     ''', (r'Cannot assign to class variable "fail_open" via instance', "misc")),
    ("internal_name", '''
        from envoy_pyext._native import FilterConfig  # <-
     ''', (r'Module "envoy_pyext._native" has no attribute "FilterConfig"', "attr-defined")),
]


# stubtest's allowlist: where the stub differs from the compiled module on purpose.
STUBTEST_ALLOWLIST = r"""
# Cython internals (pickling support, the doctest dict)
envoy_pyext\._native\.(.*\.)?__(reduce|setstate)_cython__
envoy_pyext\._native\.__test__
envoy_pyext\._native\.__pyx_capi__
# internal, left out of the stub so that type checkers reject its use
envoy_pyext\._native\.FilterConfig
# created by the runtime only: their __init__ raises TypeError
envoy_pyext\._native\.(HeaderMap|Buffer|Callbacks|ConfigContext|HttpStream)\.__init__
# positional-only in the stub (the runtime passes hook arguments by position), so that
# overrides may name their arguments as they like
envoy_pyext\._native\.Filter\.(decode|encode)_(headers|data|trailers)
"""
if sys.version_info < (3, 12):  # PEP 688: Python-level __buffer__ exists from 3.12 on
    STUBTEST_ALLOWLIST += r"envoy_pyext\._native\.Buffer\.__(buffer|release_buffer)__" + "\n"


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")  # shared by both runs: typeshed parsed once


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory, mypy_cache: Path) -> MypyRun:
    good = tmp_path_factory.mktemp("typing-good")
    (good / "good_filter.py").write_text(GOOD_FILTER.lstrip())
    return run_mypy([SAMPLES, good], mypy_cache)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory, mypy_cache: Path) -> MypyRun:
    bad = tmp_path_factory.mktemp("typing-bad")
    for name, source, _ in BAD:
        (bad / f"{name}.py").write_text(_IMPORTS + textwrap.dedent(source).lstrip())
    return run_mypy([bad], mypy_cache)


def test_samples_and_a_full_filter_type_check(good_run: MypyRun) -> None:
    assert good_run.returncode == 0, f"mypy --strict rejected correct code:\n{good_run.output}"


def test_every_sample_was_checked(good_run: MypyRun) -> None:
    samples = list(SAMPLES.glob("*.py"))
    assert len(samples) > 1, "no samples found"
    assert good_run.checked == len(samples) + 1, good_run.output  # + good_filter.py


def test_every_mistake_was_checked(bad_run: MypyRun) -> None:
    assert bad_run.returncode == 1, bad_run.output
    assert bad_run.checked == len(BAD), bad_run.output
    assert sorted(bad_run.messages) == sorted(f"{name}.py" for name, _, _ in BAD)


@pytest.mark.parametrize("name, source, expected", BAD, ids=[b[0] for b in BAD])
def test_mistake_is_rejected(bad_run: MypyRun, name: str, source: str,
                             expected: tuple[str, str]) -> None:
    assert bad_run.returncode == 1, bad_run.output
    text = _IMPORTS + textwrap.dedent(source).lstrip()
    marked = [i for i, ln in enumerate(text.splitlines(), 1) if ln.rstrip().endswith("# <-")]
    assert len(marked) == 1, "mark the mistake's line with `# <-`"
    errors = bad_run.errors(f"{name}.py")
    pattern, code = expected
    assert any(line == marked[0] and re.search(pattern, msg) and msg.endswith(f"[{code}]")
               for line, msg in errors), (
        f"{name}.py: expected /{pattern}/ [{code}] on line {marked[0]}, mypy said:\n"
        + "\n".join(f"  {line}: {msg}" for line, msg in errors))
    stray = [(line, msg) for line, msg in errors if line != marked[0]]
    assert not stray, f"{name}.py: errors besides the mistake: {stray}"


def test_stub_matches_runtime(tmp_path: Path) -> None:
    """mypy's stubtest compares the stub with the compiled module: every public name of
    envoy_pyext._native must be in the stub (or in the allowlist above) with the runtime's
    signature, and nothing in the stub may be missing at runtime."""
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    env = dict(os.environ, MYPYPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "envoy_pyext._native", "--concise",
         "--mypy-config-file", str(config), "--allowlist", str(allowlist)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        "src/envoy_pyext/_native.pyi and the compiled module differ (update the stub, or the "
        f"allowlist in {Path(__file__).name} for a deliberate difference):\n"
        + proc.stdout + proc.stderr)
