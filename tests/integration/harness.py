"""Real-Envoy test harness: starts the pinned Envoy 1.40.0 with libpyfilter.so and a Python
upstream, on ports chosen by the kernel (port 0, read back from the admin API).

    with Upstream() as up, EnvoyProcess({"name": ("pkg.mod:Class", "config")}, up.port) as env:
        conn = env.connect("name")            # http.client connection to that listener
        ...

Every listener gets its own DynamicModuleFilter entry (same .so), so one Envoy serves several
filter classes at once. Envoy is started, waited for and stopped by envoy_pyext.launcher (as
`make run` and the benchmark do): only processes this harness started are stopped, by PID.

Under `make test-asan` (PYEXT_ASAN=1, PYEXT_SO the ASan build) every Envoy runs the ASan way
(tests/integration/sanitizers.py): its environment, a bounded retry of a start that failed on
ASan's shadow-memory collision, and a sanitizer report in its log fails the test at stop().
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from envoy_pyext import launcher

from . import sanitizers

ROOT = Path(__file__).resolve().parents[2]
SO_PATH = Path(os.environ.get("PYEXT_SO", ROOT / "libpyfilter.so")).resolve()
FILTERS_DIR = Path(__file__).resolve().parent  # so `filters.<scenario>` imports

envoy_binary = launcher.envoy_binary


def envoy_env(extra_pythonpath: list[str] | None = None) -> dict[str, str]:
    """The launcher's environment with the repository (samples) and this directory (the test
    filters) on PYTHONPATH; under make test-asan also what the ASan build needs."""
    env = launcher.envoy_env([str(ROOT), str(FILTERS_DIR), *(extra_pythonpath or [])])
    return sanitizers.asan_env(env, SO_PATH) if sanitizers.enabled() else env


def filter_entry(filter_name: str, filter_config: str = "", so_path: Path = SO_PATH) -> dict:
    return {
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3"
                     ".DynamicModuleFilter",
            "dynamic_module_config": {"module": {"local": {"filename": str(so_path)}},
                                      "do_not_close": True},
            "filter_name": filter_name,
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                              "value": filter_config},
        },
    }


def listener(name: str, http_filters: list[dict], cluster: str = "upstream",
             hcm_extra: dict | None = None) -> dict:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
                 ".v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {"virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "30s"}}],
        }]},
        "http_filters": [*http_filters, {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }],
        "http_protocol_options": {"enable_trailers": True},
        **(hcm_extra or {}),
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": hcm}]}],
    }


def wait_for(predicate, what, timeout=30.0):
    """Polls `predicate` until true (bounded); there is no event to await for these counters."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def add_cluster(config: dict, name: str, port: int, trailers: bool = False) -> dict:
    """Adds a STATIC cluster `name` -> 127.0.0.1:`port` to a bootstrap (HTTP/1.1; with
    `trailers`, HTTP/1.1 trailers from it are kept). Returns the config."""
    cluster = {
        "name": name, "connect_timeout": "2s", "type": "STATIC",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                        "port_value": port}}}}]}]},
    }
    if trailers:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3"
                         ".HttpProtocolOptions",
                "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}}
    config["static_resources"]["clusters"].append(cluster)
    return config


def bootstrap(listeners: list[dict], upstream_port: int, upstream_http2: bool = False) -> dict:
    cluster = {
        "name": "upstream", "connect_timeout": "2s", "type": "STATIC",
        "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                        "port_value": upstream_port}}}}]}]},
    }
    options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    cluster["typed_extension_protocol_options"] = {options: {
        "@type": f"type.googleapis.com/{options}",
        "explicit_http_config": {"http_protocol_options": {"enable_trailers": True}}}}
    if upstream_http2:
        cluster["typed_extension_protocol_options"] = {options: {
            "@type": f"type.googleapis.com/{options}",
            "explicit_http_config": {"http2_protocol_options": {}}}}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": listeners, "clusters": [cluster]},
    }


class EnvoyProcess:
    """A running Envoy. `filters` maps listener name -> (filter_name, filter_config) or a list
    of such pairs (a chain), or pass `config` (a full bootstrap dict) instead. `env` may be
    changed before start()."""

    def __init__(self, filters: dict | None = None, upstream_port: int = 0, *,
                 config: dict | None = None, concurrency: int = 1, log_level: str = "info",
                 so_path: Path = SO_PATH, extra_pythonpath: list[str] | None = None,
                 extra_args: list[str] | None = None):
        if config is None:
            listeners = []
            for name, spec in (filters or {}).items():
                chain = spec if isinstance(spec, list) else [spec]
                entries = [filter_entry(fn, fc, so_path) for fn, fc in chain]
                listeners.append(listener(name, entries))
            config = bootstrap(listeners, upstream_port)
        self.config = config
        self.concurrency = concurrency
        self.log_level = log_level
        self.env = envoy_env(extra_pythonpath)
        self.extra_args = extra_args or []
        self.envoy: launcher.Envoy | None = None
        self.so_path = so_path
        self.expect_sanitizer_report = False  # (the test that proves ASan reports does)

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> EnvoyProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        asan = sanitizers.enabled()
        env = sanitizers.asan_env(self.env, self.so_path) if asan else self.env

        def make() -> launcher.Envoy:
            self.envoy = launcher.Envoy(self.config, concurrency=self.concurrency,
                                        log_level=self.log_level, env=env,
                                        extra_args=self.extra_args)
            return self.envoy

        if asan:
            sanitizers.start_ready(make, timeout)
            return
        make().start()
        assert self.envoy is not None
        try:
            self.envoy.wait_ready(timeout)
        except BaseException:
            self.envoy.stop()
            raise

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
            if sanitizers.enabled() and not self.expect_sanitizer_report:
                found = sanitizers.reports(self.envoy.log())
                assert not found, f"sanitizer report in Envoy's log:\n{found[0]}"

    def alive(self) -> bool:
        return self.envoy is not None and self.envoy.alive()

    def pid(self) -> int:
        assert self.envoy is not None
        return self.envoy.pid

    @property
    def proc(self) -> subprocess.Popen | None:
        return None if self.envoy is None else self.envoy.proc

    @property
    def ports(self) -> dict[str, int]:
        return {} if self.envoy is None else self.envoy.ports

    @property
    def admin_port(self) -> int:
        return 0 if self.envoy is None else self.envoy.admin_port

    @property
    def log_path(self) -> Path | None:
        return None if self.envoy is None else self.envoy.log_path

    # -- talking to it ----------------------------------------------------------------------
    def log(self) -> str:
        return "" if self.envoy is None else self.envoy.log()

    def admin(self, path: str) -> str:
        assert self.envoy is not None
        return self.envoy.admin(path)

    def stat(self, name: str) -> int | None:
        """The value of one counter/gauge from /stats, or None if absent."""
        assert self.envoy is not None
        return self.envoy.stats(f"^{name}$").get(name)

    def connect(self, listener_name: str, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.ports[listener_name], timeout=timeout)

    def request(self, listener_name: str, method: str = "GET", path: str = "/", body=None,
                headers: dict | list | None = None, encode_chunked: bool = False,
                trailers: dict | None = None):
        """One request on a fresh connection; returns (status, headers list, body bytes)."""
        conn = self.connect(listener_name)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            items = headers.items() if isinstance(headers, dict) else (headers or [])
            for k, v in items:
                conn.putheader(k, v)
            if body is not None and not encode_chunked:
                conn.putheader("content-length", str(len(body)))
            if encode_chunked:
                conn.putheader("transfer-encoding", "chunked")
            conn.endheaders()
            if body is not None:
                if encode_chunked:
                    chunks = body if isinstance(body, list) else [body]
                    for c in chunks:
                        if c:
                            conn.send(b"%x\r\n%s\r\n" % (len(c), c))
                    conn.send(b"0\r\n" + b"".join(
                        f"{k}: {v}\r\n".encode() for k, v in (trailers or {}).items()) + b"\r\n")
                else:
                    conn.send(body)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


# ---- the upstream: a Python HTTP/1.1 server that reports what it received --------------------

class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline()
                if not line:    # the client (Envoy, resetting the stream) went away mid-body
                    raise ConnectionAbortedError("the connection closed inside a chunked body")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        line = self.rfile.readline()
                        if line in (b"\r\n", b"\n", b""):
                            return bytes(out)
                        k, _, v = line.decode("latin-1").partition(":")
                        self.trailers.append([k.strip().lower(), v.strip()])
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        self.trailers = []
        body = self._read_body()
        received = {
            "method": self.command, "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "trailers": self.trailers,
            "body_len": len(body),
        }
        self.server.received.append({**received, "body": body})
        mode = self.headers.get("x-upstream-mode", "json")
        if mode == "echo":  # the request body comes back as the response body
            payload = body
        elif mode.startswith("size:"):  # a generated body of that many bytes
            n = int(mode[5:])
            payload = (b"abcdefghijklmnopqrstuvwxyz0123456789\n" * (n // 37 + 1))[:n]
        else:
            payload = json.dumps({**received, "body": body.decode("latin-1")}).encode()
        self.send_response(int(self.headers.get("x-upstream-status", "200")))
        self.send_header("content-type", "application/octet-stream" if mode != "json"
                         else "application/json")
        for h in self.headers.get_all("x-upstream-set-header") or []:
            k, _, v = h.partition("=")
            self.send_header(k, v)
        trailers = self.headers.get_all("x-upstream-trailer") or []
        if self.headers.get("x-upstream-chunked") or trailers:
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            step = 16384
            for i in range(0, len(payload), step):
                part = payload[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n")
            for t in trailers:
                k, _, v = t.partition("=")
                self.wfile.write(f"{k}: {v}\r\n".encode())
            self.wfile.write(b"\r\n")
        else:
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # Envoy may open hundreds of upstream connections at once
    daemon_threads = True
    disconnects = 0            # requests whose client went away (counted, not printed)

    def handle_error(self, request, client_address):
        # Envoy resets upstream requests in the tests that reset or fail streams: a client
        # that disconnects is expected there, and its traceback would only be noise. Any other
        # error stays visible (socketserver prints it).
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.disconnects += 1
            return
        super().handle_error(request, client_address)


class Upstream:
    """A threaded HTTP/1.1 upstream on 127.0.0.1 (port 0). `received` lists what it got."""

    def __init__(self):
        self.server = _Server(("127.0.0.1", 0), _UpstreamHandler)
        self.server.daemon_threads = True
        self.server.received = []
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def received(self) -> list[dict]:
        return self.server.received

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
