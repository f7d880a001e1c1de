# envoy-pyext: Apache-2.0
"""The processes of the benchmark and their configuration: the Envoys under test (one process
per filter kind, all the same Envoy 1.40.0 binary), the upstream Envoy (direct_response, no
Python), the ext_proc processor, plus the one-time setup (wrk, the ext_proc venv, the Cython
build). Every process is started here through `Fleet`, which stops exactly those PIDs. Envoys
are started, waited for and stopped by envoy_pyext.launcher (as `make run` and the tests do).

Traffic is loopback only; every listener binds 127.0.0.1 port 0 with SO_REUSEPORT off, so two
Envoys can never silently share a port (see /work/shared/reference/perf-anchors.md, "Traps").
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from envoy_pyext import launcher
from envoy_pyext.launcher import envoy_binary

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from tests.integration.harness import SO_PATH, filter_entry  # noqa: E402  (the test filters' config)

FILTERS_DIR = BENCH / "filters"
BUILD_DIR = BENCH / "build"
CY_DIR = BUILD_DIR / "cy"
EXTPROC_VENV = BENCH / ".venv-extproc"
WRK_SCRIPT = BENCH / "wrk" / "bench.lua"
UPSTREAM_BODY = b"hello, world\n"  # 13 bytes, as in the anchors

# ---- the filters, as Envoy configuration ---------------------------------------------------

LUA_HEADERS = """
function envoy_on_request(request_handle)
  local user = request_handle:headers():get("x-user") or "anonymous"
  request_handle:headers():replace("x-seen", "1")
  request_handle:streamInfo():dynamicMetadata():set("bench", "user", user)
end
function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("bench")
  response_handle:headers():add("x-filter", md and md["user"] or "anonymous")
end
"""

LUA_BODY = """
function envoy_on_request(request_handle)
  local user = request_handle:headers():get("x-user") or "anonymous"
  request_handle:headers():replace("x-seen", "1")
  request_handle:streamInfo():dynamicMetadata():set("bench", "user", user)
  local body = request_handle:body()
  if body ~= nil then
    body:setBytes(string.upper(body:getBytes(0, body:length())))
  end
end
function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("bench")
  response_handle:headers():add("x-filter", md and md["user"] or "anonymous")
end
"""

# One call per request to another service through the cluster `callout` (the upstream's plain
# listener), synchronous in envoy_on_request: the same request as bench/filters/bench_callout.py
# (GET /auth, x-user), 503 when the call fails (Lua then sees a fabricated 503) or is not a 200.
LUA_CALLOUT = """
function envoy_on_request(request_handle)
  local user = request_handle:headers():get("x-user") or "anonymous"
  request_handle:streamInfo():dynamicMetadata():set("bench", "user", user)
  local headers, body = request_handle:httpCall("callout", {
      [":method"] = "GET", [":path"] = "/auth", [":authority"] = "callout",
      ["x-user"] = user}, "", 5000)
  if headers[":status"] ~= "200" then
    request_handle:respond({[":status"] = "503"}, "callout failed\\n")
    return
  end
  request_handle:headers():replace("x-seen", "1")
end
function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("bench")
  response_handle:headers():add("x-filter", md and md["user"] or "anonymous")
end
"""

# The check upstream: answers with what it received, so a check proves the filter's effect on
# the request (x-seen set; body upper-cased) from the far side of Envoy.
LUA_CHECK_UPSTREAM = """
function envoy_on_request(h)
  local seen = h:headers():get("x-seen") or "-"
  local verdict = "none"
  local body = h:body()
  if body ~= nil and body:length() > 0 then
    local s = body:getBytes(0, body:length())
    verdict = ((s == string.upper(s)) and "upper" or "lower") .. ":" .. tostring(#s)
  end
  h:respond({[":status"] = "200", ["x-upstream-seen"] = seen, ["x-upstream-body"] = verdict},
            "checked\\n")
end
"""


def lua_filter(code: str) -> dict:
    return {"name": "envoy.filters.http.lua", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {"inline_string": code}}}


def extproc_filter() -> dict:
    return {"name": "envoy.filters.http.ext_proc", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
        "grpc_service": {"envoy_grpc": {"cluster_name": "extproc"}, "timeout": "5s"},
        "message_timeout": "5s",
        "failure_mode_allow": False,
        "processing_mode": {
            "request_header_mode": "SEND", "response_header_mode": "SEND",
            "request_body_mode": "NONE", "response_body_mode": "NONE",
            "request_trailer_mode": "SKIP", "response_trailer_mode": "SKIP"}}}


def buffer_filter() -> dict:
    return {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
        "max_request_bytes": 1 << 20}}


def pyext_filter(filter_name: str) -> dict:
    return filter_entry(filter_name, "", SO_PATH)


ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def _hcm(stat_prefix: str, routes: list[dict], http_filters: list[dict]) -> dict:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
                 ".v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
        "http_filters": [*http_filters, ROUTER]}}


def _listener(name: str, routes: list[dict], http_filters: list[dict],
              exact_balance: bool = False) -> dict:
    ln = {"name": name,
          "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
          "enable_reuse_port": False,
          "filter_chains": [{"filters": [_hcm(name, routes, http_filters)]}]}
    if exact_balance:  # spread the connections evenly over the workers (--concurrency > 1)
        ln["connection_balance_config"] = {"exact_balance": {}}
    return ln


def _cluster(name: str, port: int, http2: bool = False) -> dict:
    c = {"name": name, "connect_timeout": "2s", "type": "STATIC",
         "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{
             "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                         "port_value": port}}}}]}]}}
    if http2:
        c["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3"
                         ".HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}}
    return c


def _admin() -> dict:
    return {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}


def upstream_config() -> dict:
    """The upstream Envoy: `plain` answers 13 bytes without looking at the request; `body`
    first reads the whole request body (buffer filter), so a POST completes before the
    answer; `check` echoes what it got (Lua, only used by correctness checks)."""
    direct = [{"match": {"prefix": "/"}, "direct_response": {
        "status": 200, "body": {"inline_string": UPSTREAM_BODY.decode()}}}]
    check = [{"match": {"prefix": "/"}, "route": {"cluster": "none"}}]
    return {
        "admin": _admin(),
        "static_resources": {
            "listeners": [_listener("plain", direct, []),
                          _listener("body", direct, [buffer_filter()]),
                          _listener("check", check, [lua_filter(LUA_CHECK_UPSTREAM)])],
            "clusters": [_cluster("none", 9)],  # never used: the check Lua always answers
        },
    }


@dataclass
class ListenerSpec:
    name: str
    http_filters: list[dict]
    body: bool = False  # route `/` to the upstream's body listener


@dataclass
class ProcessSpec:
    """One Envoy process under test."""
    name: str
    listeners: list[ListenerSpec]
    concurrency: int = 1
    cpus: str = "0"
    extproc: bool = False   # needs the ext_proc processor (and its cluster)
    callout: bool = False   # the filter calls the cluster `callout` (the upstream's plain listener)
    python: bool = False    # loads libpyfilter.so

    def config(self, upstream_ports: dict[str, int], extproc_port: int = 0) -> dict:
        listeners = []
        for ls in self.listeners:
            routes = [
                {"match": {"prefix": "/check"},
                 "route": {"cluster": "check", "timeout": "30s"}},
                {"match": {"prefix": "/"},
                 "route": {"cluster": "upstream_body" if ls.body else "upstream",
                           "timeout": "30s"}},
            ]
            listeners.append(_listener(ls.name, routes, ls.http_filters,
                                       exact_balance=self.concurrency > 1))
        clusters = [_cluster("upstream", upstream_ports["plain"]),
                    _cluster("upstream_body", upstream_ports["body"]),
                    _cluster("check", upstream_ports["check"])]
        if self.callout:
            clusters.append(_cluster("callout", upstream_ports["plain"]))
        cfg = {"admin": _admin(),
               "static_resources": {"listeners": listeners, "clusters": clusters}}
        if self.extproc:
            clusters.append(_cluster("extproc", extproc_port, http2=True))
            # Half-close the gRPC stream instead of resetting it (Envoy 1.40 resets by
            # default; the anchors measured +12 % req/s with this): ext_proc at its best.
            cfg["layered_runtime"] = {"layers": [{"name": "static", "static_layer": {
                "envoy.reloadable_features.ext_proc_graceful_grpc_close": True}}]}
        return cfg


# ---- processes ---------------------------------------------------------------------------

def pin(cpus: str | None) -> list[str]:
    """`taskset -c CPUS` (exec's the command, so the PID is the command's own)."""
    if cpus is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", cpus]


class Proc:
    """A process this benchmark started (not Envoy: see EnvoyProc); stop() signals exactly this
    PID."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict | None = None,
                 stdout_pipe: bool = False):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log, stdin=subprocess.DEVNULL,
            preexec_fn=launcher.preexec_die_with_parent)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self.popen.stdout:
            self.popen.stdout.close()
        self._log.close()


class EnvoyProc(launcher.Envoy):
    """An Envoy of the benchmark, started at once (then wait_ready), pinned to `cpus`, its
    config, admin-address file and log in `log_dir` as <name>.json/.admin/.log. `env` None:
    this process's environment unchanged (an Envoy without Python)."""

    def __init__(self, name: str, config: dict, log_dir: Path, *, concurrency: int = 1,
                 cpus: str | None = "0", env: dict | None = None, log_level: str = "warning",
                 wrapper: list[str] | None = None):
        super().__init__(config, name=name, workdir=log_dir, concurrency=concurrency,
                         log_level=log_level, env=dict(os.environ) if env is None else env,
                         wrapper=[*pin(cpus), *(wrapper or [])])
        self.start()

    def log(self, tail: int | None = 4000) -> str:
        return super().log(tail)


def wait_ready(envoys: list[EnvoyProc], timeout: float = 90) -> None:
    launcher.wait_ready(envoys, timeout)


class Fleet:
    """Owns every process the benchmark starts; `close()` (in a finally) stops them by PID."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def add(self, p: Proc) -> Proc:
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print(f"bench: stopping {p.name} (pid {p.pid}) failed: {e}", file=sys.stderr)
        self.procs.clear()

    def start_extproc(self, cpus: str | None = "0", timeout: float = 60) -> tuple[Proc, int]:
        py = EXTPROC_VENV / "bin" / "python"
        p = self.add(Proc("extproc", [*pin(cpus), str(py), str(BENCH / "extproc_server.py")],
                          self.log_dir, stdout_pipe=True))
        assert p.popen.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:  # the processor prints `PORT n` once it serves
            if not p.alive():
                raise RuntimeError(f"ext_proc processor exited:\n{p.log()}")
            ready, _, _ = select.select([p.popen.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(p.popen.stdout.fileno(), 4096)
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith("PORT "):
                        return p, int(line.split()[1])
        raise RuntimeError(f"ext_proc processor did not report its port:\n{p.log()}")


# ---- one-time setup ----------------------------------------------------------------------

def apt_install(package: str, command: str) -> tuple[str | None, str]:
    """`command` on PATH, installing Debian's `package` with apt-get if it is missing (we are
    root; `apt-get update` once if the install fails). Returns (its path or None, apt's output
    tail)."""
    path = shutil.which(command)
    if path:
        return path, ""
    print(f"bench: installing {command} (apt-get install -y {package})", flush=True)
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        r = subprocess.run([*apt, "install", package], env=env, capture_output=True,
                           timeout=900)
        if r.returncode != 0:  # the package lists may be missing or stale
            subprocess.run([*apt, "update"], env=env, capture_output=True, timeout=900)
            r = subprocess.run([*apt, "install", package], env=env, capture_output=True,
                               timeout=900)
        out = r.stdout.decode(errors="replace")[-2000:] + r.stderr.decode(errors="replace")[-2000:]
    except (OSError, subprocess.TimeoutExpired) as e:
        out = str(e)
    return shutil.which(command), out


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get if missing."""
    path, out = apt_install("wrk", "wrk")
    if not path:
        raise RuntimeError(f"could not install wrk with apt-get:\n{out}")
    return path


def _stamp(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()


def ensure_extproc_venv() -> Path:
    """bench/.venv-extproc with grpcio + xds-protos (requirements-extproc.txt); rebuilt only
    when that file or the base interpreter changes."""
    req = BENCH / "requirements-extproc.txt"
    base = getattr(sys, "_base_executable", sys.executable)
    stamp = _stamp(req.read_bytes(), base.encode(), sys.version.encode())
    marker = EXTPROC_VENV / ".bench-stamp"
    py = EXTPROC_VENV / "bin" / "python"
    if marker.exists() and marker.read_text() == stamp and py.exists():
        return py
    print(f"bench: creating {EXTPROC_VENV.relative_to(ROOT)} (grpcio + xds-protos from PyPI)",
          flush=True)
    if EXTPROC_VENV.exists():
        shutil.rmtree(EXTPROC_VENV)
    subprocess.run([base, "-m", "venv", str(EXTPROC_VENV)], check=True, timeout=300)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", str(req)], check=True, timeout=900)
    subprocess.run([str(py), "-c", "import grpc; from envoy.service.ext_proc.v3 import "
                    "external_processor_pb2_grpc"], check=True, timeout=120)
    marker.write_text(stamp)
    return py


def extproc_versions() -> dict[str, str]:
    py = EXTPROC_VENV / "bin" / "python"
    r = subprocess.run([str(py), "-c", "import sys, json, grpc, google.protobuf as p; "
                        "print(json.dumps({'python': sys.version.split()[0], "
                        "'grpcio': grpc.__version__, 'protobuf': p.__version__}))"],
                       capture_output=True, text=True, timeout=120)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def build_cython_filter() -> Path:
    """Cythonizes bench/filters/bench_add_header_cy.pyx into an extension module in
    bench/build/cy/ (which goes on Envoy's PYTHONPATH); cached by source + toolchain."""
    import sysconfig

    import Cython

    pyx = FILTERS_DIR / "bench_add_header_cy.pyx"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    out = CY_DIR / f"bench_add_header_cy{suffix}"
    stamp = _stamp(pyx.read_bytes(), Cython.__version__.encode(), sys.version.encode())
    marker = CY_DIR / ".bench-stamp"
    if out.exists() and marker.exists() and marker.read_text() == stamp:
        return CY_DIR
    print("bench: cythonizing bench/filters/bench_add_header_cy.pyx", flush=True)
    CY_DIR.mkdir(parents=True, exist_ok=True)
    tmp = BUILD_DIR / "cy-tmp"
    script = (
        "import sys\n"
        "from setuptools import setup, Extension\n"
        "from Cython.Build import cythonize\n"
        "pyx, out, tmp = sys.argv[1:4]\n"
        "setup(script_args=['-q', 'build_ext', '--build-lib', out, '--build-temp', tmp],\n"
        "      ext_modules=cythonize([Extension('bench_add_header_cy', [pyx])],\n"
        "                            build_dir=tmp, quiet=True,\n"
        "                            compiler_directives={'language_level': 3}))\n")
    r = subprocess.run([sys.executable, "-c", script, str(pyx), str(CY_DIR), str(tmp)],
                       cwd=BUILD_DIR, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not out.exists():
        raise RuntimeError(f"building the Cython filter failed:\n{r.stdout}\n{r.stderr}")
    marker.write_text(stamp)
    return CY_DIR


def async_available() -> bool:
    """The brief's switch: evaluated in the venv's python, as Envoy's embedded one sees it."""
    r = subprocess.run([sys.executable, "-c", "import envoy_pyext; print('async' in "
                        "getattr(envoy_pyext, 'FEATURES', ()))"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"importing envoy_pyext failed:\n{r.stderr}")
    return r.stdout.strip() == "True"


def pyext_env() -> dict[str, str]:
    """For the Envoys with Python: the bench filters (and the Cython one) importable."""
    return launcher.envoy_env([ROOT, FILTERS_DIR, CY_DIR])


def envoy_version() -> str:
    r = subprocess.run([envoy_binary(), "--version"], capture_output=True, text=True,
                       timeout=60)
    text = (r.stdout + r.stderr).strip()
    return text.split("version:", 1)[-1].strip() if "version:" in text else text


def new_log_dir() -> Path:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=BUILD_DIR))


@dataclass
class Started:
    upstream: EnvoyProc
    envoys: dict[str, EnvoyProc] = field(default_factory=dict)
    extproc: Proc | None = None
