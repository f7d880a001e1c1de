# envoy-pyext: Apache-2.0
"""The ``envoy-pyext`` command (also ``python -m envoy_pyext``).

    envoy-pyext run module:Class [--config JSON|@file] [--listen 127.0.0.1:10000]
                                 [--upstream URL | --echo] [--concurrency N]
    envoy-pyext config module:Class [same options]     # the Envoy YAML `run` uses
    envoy-pyext check module:Class [--config ...]      # import, hook checks, parse_config
    envoy-pyext new NAME                               # NAME.py + test_NAME.py
    envoy-pyext so-path                                # the libpyfilter.so to use
    envoy-pyext build-so [--out PATH]                  # build it (from a source checkout)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["main", "envoy_config", "find_so", "to_yaml"]

PKG_DIR = Path(__file__).resolve().parent
SO_NAME = "libpyfilter.so"
SO_ENV = "PYEXT_SO"
DEFAULT_LISTEN = "127.0.0.1:10000"
ECHO_FILTER = "envoy_pyext.echo:Echo"
DMF_TYPE = ("type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3"
            ".DynamicModuleFilter")
HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager")
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


class CliError(Exception):
    """A failure reported to the user as one message (exit status 1)."""


# ---- the libpyfilter.so --------------------------------------------------------------------

def source_root() -> Path | None:
    """The source checkout this package runs from (an editable install), or None."""
    root = PKG_DIR.parent.parent
    if (root / "build_config.json").is_file() and (root / "tools" / "build_so.py").is_file():
        return root
    return None


def so_candidates() -> list[Path]:
    out = []
    if os.environ.get(SO_ENV):
        out.append(Path(os.environ[SO_ENV]))
    out.append(PKG_DIR / SO_NAME)  # inside the installed package
    root = source_root()
    if root is not None:
        out.append(root / SO_NAME)  # make build-so-local
    out.append(Path.cwd() / SO_NAME)
    return out


def find_so(explicit: str | None = None) -> Path:
    """The libpyfilter.so to use: --so, else $PYEXT_SO, else the one in the installed package,
    else the source checkout's (make build-so-local), else ./libpyfilter.so."""
    if explicit:
        path = Path(explicit).resolve()
        if not path.is_file():
            raise CliError(f"no such file: {path}")
        return path
    for path in so_candidates():
        if path.is_file():
            return path.resolve()
    raise CliError(
        "no libpyfilter.so found (looked at: " + ", ".join(map(str, so_candidates())) + "). "
        "Build one with `envoy-pyext build-so` (or `make build-so-local` in a checkout), or "
        f"name it with --so or ${SO_ENV}.")


# ---- the filter: load and check -----------------------------------------------------------

def read_config(value: str | None) -> str:
    """--config: a JSON (or any) string, or @file for the file's contents."""
    if value is None:
        return ""
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text()
        except OSError as e:
            raise CliError(f"--config {value}: {e.strerror}: {path}") from None
    return value


def _add_paths(paths: list[str]) -> list[str]:
    """The directories Envoy's Python (and this check) import filters from: the current
    directory first, as `python -m` does, then --pythonpath."""
    dirs = [str(Path.cwd()), *(str(Path(p).resolve()) for p in paths)]
    for d in reversed(dirs):
        if d not in sys.path:
            sys.path.insert(0, d)
    return dirs


def check_filter(filter_name: str, raw_config: str) -> tuple[type, Any]:
    """Loads the class as Envoy would, runs the hook checks and parse_config. Returns (class,
    parsed config); raises FilterConfigError with the reason."""
    from . import testing
    from ._native import FilterConfigError

    try:
        cls = testing.load_filter_class(filter_name)
    except FilterConfigError:
        raise
    except ModuleNotFoundError as e:
        raise FilterConfigError(
            f"envoy-pyext: cannot load filter {filter_name!r}: module {e.name!r} not found "
            f"(sys.path: {sys.path[:4]}...; run from the filter's directory or add "
            f"--pythonpath)") from None
    except SyntaxError as e:
        raise FilterConfigError(f"envoy-pyext: cannot load filter {filter_name!r}: syntax "
                                f"error in {e.filename}, line {e.lineno}: {e.msg}") from None
    except Exception as e:
        from ._tb import format_exception

        raise FilterConfigError(f"envoy-pyext: cannot load filter {filter_name!r}: importing "
                                f"it raised:\n{format_exception(e)}") from None
    try:
        parsed = cls.parse_config(raw_config)
    except Exception as e:
        raise FilterConfigError(f"envoy-pyext: {filter_name}: parse_config rejected the "
                                f"filter_config: {type(e).__name__}: {e}") from None
    return cls, parsed


# ---- the Envoy configuration ---------------------------------------------------------------

def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    try:
        n = int(port)
    except ValueError:
        raise CliError(f"--listen {value!r}: expected ADDRESS:PORT, e.g. 127.0.0.1:10000") \
            from None
    if not 0 <= n <= 65535:
        raise CliError(f"--listen {value!r}: port out of range")
    return host, n


def _filter_entry(filter_name: str, raw_config: str, so: Path) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.dynamic_modules",
        "typed_config": {
            "@type": DMF_TYPE,
            "dynamic_module_config": {"module": {"local": {"filename": str(so)}},
                                      "do_not_close": True},
            "filter_name": filter_name,
            "filter_config": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                              "value": raw_config},
        },
    }


def _hcm(stat_prefix: str, route: dict[str, Any],
         filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE,
        "stat_prefix": stat_prefix,
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, **route}]}]},
        "http_filters": [*filters, ROUTER],
    }}


def envoy_config(filter_name: str, raw_config: str, so: Path, *,
                 listen: str = DEFAULT_LISTEN, upstream: str | None = None,
                 admin: str = "127.0.0.1:0", timeout: str = "30s") -> dict[str, Any]:
    """The bootstrap `run` starts Envoy with: a listener at `listen` whose HTTP filters are the
    filter and the router; the router sends to `upstream` (a URL), or, without one, to the
    built-in echo (envoy_pyext.echo:Echo on an internal listener of the same Envoy)."""
    host, port = parse_listen(listen)
    admin_host, admin_port = parse_listen(admin)
    route: dict[str, Any] = {"route": {"cluster": "upstream", "timeout": timeout}}
    listeners = [{
        "name": "proxy",
        "address": {"socket_address": {"address": host, "port_value": port}},
        # One Envoy per port: without this, a second Envoy could bind the same port.
        "enable_reuse_port": False,
        "filter_chains": [{"filters": [
            _hcm("proxy", route, [_filter_entry(filter_name, raw_config, so)])]}],
    }]
    config: dict[str, Any] = {
        "admin": {"address": {"socket_address": {"address": admin_host,
                                                 "port_value": admin_port}}},
    }
    if upstream is None:
        config["bootstrap_extensions"] = [{
            "name": "envoy.bootstrap.internal_listener",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.bootstrap"
                                      ".internal_listener.v3.InternalListener"}}]
        listeners.append({
            "name": "echo",
            "internal_listener": {},
            "filter_chains": [{"filters": [_hcm("echo", {"route": {"cluster": "upstream"}},
                                                [_filter_entry(ECHO_FILTER, "", so)])]}],
        })
        cluster: dict[str, Any] = {
            "name": "upstream",
            "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"envoy_internal_address": {
                    "server_listener_name": "echo"}}}}]}]},
            "transport_socket": {
                "name": "envoy.transport_sockets.internal_upstream",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets"
                             ".internal_upstream.v3.InternalUpstreamTransport",
                    "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
                                         "typed_config": {
                                             "@type": "type.googleapis.com/envoy.extensions"
                                                      ".transport_sockets.raw_buffer.v3"
                                                      ".RawBuffer"}}}},
        }
    else:
        cluster = _upstream_cluster(upstream)
        if cluster.pop("_hostname"):
            route["route"]["auto_host_rewrite"] = True
    config["static_resources"] = {"listeners": listeners, "clusters": [cluster]}
    return config


def _upstream_cluster(url: str) -> dict[str, Any]:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"--upstream {url!r}: expected http://HOST:PORT or https://HOST:PORT")
    if parts.path not in ("", "/"):
        raise CliError(f"--upstream {url!r}: a path is not supported (requests keep theirs)")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    is_ip = bool(re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+", host))
    cluster: dict[str, Any] = {
        "name": "upstream",
        "connect_timeout": "5s",
        "type": "STATIC" if is_ip else "STRICT_DNS",
        "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host,
                                                         "port_value": port}}}}]}]},
        "_hostname": not is_ip,
    }
    if not is_ip:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
                         ".UpstreamTlsContext",
                "sni": host}}
    return cluster


_PLAIN = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./-]*$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(v: Any) -> str:
    if v is True or v is False:
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _SPECIAL:
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(node: Any, indent: int = 0) -> str:
    """`node` (dicts, lists, scalars) as block-style YAML."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, dict):
        if not node:
            return pad + "{}\n"
        for k, v in node.items():
            key = _scalar(k)
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:\n{to_yaml(v, indent + 2)}")
            elif isinstance(v, (dict, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(v, dict) else '[]'}\n")
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}\n")
        return "".join(lines)
    if isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)) and item:
                inner = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {inner[indent + 2:]}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
        return "".join(lines)
    return pad + _scalar(node) + "\n"


# ---- run -----------------------------------------------------------------------------------

def _banner(envoy: Any, filter_name: str, upstream: str | None) -> str:
    address, port = envoy.addresses.get("proxy", ("?", 0))
    url = f"http://[{address}]:{port}/" if ":" in address else f"http://{address}:{port}/"
    lines = [
        f"envoy-pyext: Envoy (pid {envoy.pid}) runs {filter_name}",
        f"  listening on: {url}",
        f"  upstream:     {upstream or 'the built-in echo (envoy_pyext.echo:Echo)'}",
        f"  admin:        http://127.0.0.1:{envoy.admin_port}/",
        f"  try:          curl -i {url}",
        "  stop:         Ctrl-C",
    ]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from . import launcher

    dirs = _add_paths(args.pythonpath)
    raw = read_config(args.config)
    if not args.no_check:
        check_filter(args.filter, raw)
    so = find_so(args.so)
    config = envoy_config(args.filter, raw, so, listen=args.listen, upstream=args.upstream,
                          admin=args.admin)
    stopping: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with tempfile.TemporaryDirectory(prefix="envoy-pyext-run-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        envoy = launcher.Envoy(
            config, name="envoy", workdir=workdir, concurrency=args.concurrency,
            log_level=args.log_level, pythonpath=dirs,
            env=launcher.reload_env(launcher.envoy_env(dirs)) if args.reload else None,
            extra_args=["--component-log-level", f"dynamic_modules:{args.filter_log_level}"],
            echo=sys.stderr.buffer)
        try:
            envoy.start()
            try:
                envoy.wait_ready(args.timeout)
            except launcher.EnvoyError as e:
                print(f"\nenvoy-pyext: {_explain(str(e))}", file=sys.stderr)
                return 1
            print(_banner(envoy, args.filter, args.upstream), flush=True)
            deadline = time.monotonic() + args.duration if args.duration else None
            while envoy.alive():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                assert envoy.proc is not None
                try:
                    envoy.proc.wait(0.5)
                except subprocess.TimeoutExpired:
                    pass
            if not envoy.alive() and not stopping and envoy.returncode != 0:
                print(f"envoy-pyext: Envoy exited with status {envoy.returncode}; its log "
                      f"ends:\n{envoy.log(3000)}", file=sys.stderr)
                return 1
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            envoy.stop()
            if stopping:
                print("envoy-pyext: stopped", file=sys.stderr)
    return 0


def _explain(message: str) -> str:
    """Envoy's reason, said first when it is a well-known one."""
    m = re.search(r"cannot bind '([^']+)': (.+)", message)
    if m:
        return (f"cannot listen on {m[1]}: {m[2].strip()} (another process has it? pick "
                f"another port with --listen, or 127.0.0.1:0 for any)\n\n{message}")
    m = re.search(r"envoy-pyext: .*(?:cannot load filter|refused|rejected).*", message)
    if m:
        return f"Envoy refused the filter configuration: {m[0]}\n\n{message}"
    return message


def cmd_config(args: argparse.Namespace) -> int:
    raw = read_config(args.config)
    so = find_so(args.so)
    config = envoy_config(args.filter, raw, so, listen=args.listen, upstream=args.upstream,
                          admin=args.admin)
    header = [
        f"# Envoy configuration for {args.filter} (envoy-pyext config).",
        "# Run it with: envoy -c this.yaml, with the filter's directory on PYTHONPATH and the",
        "# virtualenv that has envoy_pyext active (or VIRTUAL_ENV set).",
        "# do_not_close: true is required (CPython cannot be unloaded).",
    ]
    if args.upstream is None:
        header.append("# The upstream is the built-in echo (envoy_pyext.echo:Echo, an internal "
                      "listener): replace the `upstream` cluster with your service.")
    sys.stdout.write("\n".join(header) + "\n" + to_yaml(config))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ._teststream import StreamConfig

    _add_paths(args.pythonpath)
    cls, parsed = check_filter(args.filter, read_config(args.config))
    fc = StreamConfig(args.filter, cls, parsed)
    hooks = [h for h, fn in fc.fn.items() if fn is not None]
    print(f"ok: {args.filter}")
    print(f"  hooks:  {', '.join(hooks) or '(none)'}")
    print(f"  config: {parsed!r}"[:300])
    if fc.fail_open:
        print("  fail_open: True (an exception lets the stream continue)")
    return 0


# ---- new -----------------------------------------------------------------------------------

_FILTER_TEMPLATE = '''"""{title}: an Envoy HTTP filter written with envoy-pyext.

Run it:   envoy-pyext run {module}:{cls} --config '{{"header": "x-hello"}}'
Test it:  pytest test_{module}.py
"""

from __future__ import annotations

import json
from typing import Any

from envoy_pyext import Filter, HeaderMap, Status


class {cls}(Filter):
    """Adds a header to the request before it goes upstream, and echoes it on the response."""

    @classmethod
    def parse_config(cls, raw: str) -> dict[str, Any]:
        # `filter_config` from Envoy's configuration; raise to refuse it (Envoy won't start).
        cfg = json.loads(raw or "{{}}")
        return {{"header": cfg.get("header", "x-hello"), "value": cfg.get("value", "world")}}

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        if headers.get(":path", "").startswith("/forbidden"):
            return self.callbacks.send_local_reply(403, body=b"forbidden\\n")
        headers[self.config["header"]] = self.config["value"]
        return None

    def encode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        headers["x-filter"] = "{module}"
        return None
'''

_TEST_TEMPLATE = '''"""Unit tests of {module}.{cls}, without Envoy (FilterTester)."""

from envoy_pyext.testing import FilterTester

from {module} import {cls}


def test_adds_the_header():
    t = FilterTester({cls}, config={{"header": "x-hello", "value": "there"}})
    r = t.request("GET", "/")
    assert r.upstream.headers["x-hello"] == "there"
    assert r.client.status == 200 and r.client.headers["x-filter"] == "{module}"


def test_forbidden_paths_are_answered_locally():
    r = FilterTester({cls}).request("GET", "/forbidden/x")
    assert r.upstream is None
    assert r.local_reply.status == 403 and r.client.body == b"forbidden\\n"
'''


def _class_name(module: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in module.split("_") if p) or "MyFilter"


def cmd_new(args: argparse.Namespace) -> int:
    name = args.name
    if not name.isidentifier() or name.startswith("test"):
        raise CliError(f"{name!r} is not a usable module name (a Python identifier, not "
                       f"starting with 'test')")
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    cls = _class_name(name)
    files = {directory / f"{name}.py": _FILTER_TEMPLATE,
             directory / f"test_{name}.py": _TEST_TEMPLATE}
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise CliError(f"not overwriting {', '.join(existing)}")
    for path, template in files.items():
        path.write_text(template.format(module=name, cls=cls, title=cls))
    module, test = directory / f"{name}.py", directory / f"test_{name}.py"
    print(f"created {module} ({cls}) and {test}")
    print(f"  test it:  (cd {directory} && python -m pytest test_{name}.py)")
    print(f"  run it:   (cd {directory} && envoy-pyext run {name}:{cls})")
    return 0


# ---- so-path, build-so ---------------------------------------------------------------------

def cmd_so_path(args: argparse.Namespace) -> int:
    print(find_so(None))
    return 0


def cmd_build_so(args: argparse.Namespace) -> int:
    root = source_root()
    if root is None:
        raise CliError(
            "building libpyfilter.so needs the envoy-pyext source tree (cpp/, "
            "build_config.json, tools/build_so.py), which this installation does not have: "
            f"{PKG_DIR} is not inside a checkout. Clone the repository and run `make "
            "build-so-local` there, or `pip install -e` the checkout.")
    out = Path(args.out).resolve() if args.out else root / SO_NAME
    with tempfile.TemporaryDirectory(prefix="envoy-pyext-build-") as build_dir:
        cmd = [sys.executable, str(root / "tools" / "build_so.py"), "--out", str(out),
               "--build-dir", build_dir]
        if args.debug:
            cmd.append("--debug")
        proc = subprocess.run(cmd, cwd=root)
    if proc.returncode != 0:
        print(f"envoy-pyext: building {out} failed (status {proc.returncode})", file=sys.stderr)
        return 1
    print(out)
    return 0


# ---- the parser ----------------------------------------------------------------------------

def _filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("filter", metavar="module:Class",
                   help="the Filter subclass, as Envoy's filter_name (package.module:Class)")
    p.add_argument("--config", metavar="JSON|@FILE",
                   help="the filter_config string parse_config receives (@file: its contents)")
    p.add_argument("--pythonpath", action="append", default=[], metavar="DIR",
                   help="more directories to import the filter from (the current directory "
                        "always is one)")


def _envoy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDRESS:PORT",
                   help=f"where the proxy listens (default {DEFAULT_LISTEN}; port 0: any free "
                        f"port, printed once bound)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--upstream", metavar="URL",
                       help="the service behind the filter: http://HOST:PORT or https://...")
    group.add_argument("--echo", action="store_true",
                       help="answer with the built-in echo upstream (the default)")
    p.add_argument("--so", metavar="PATH",
                   help="the libpyfilter.so (default: what `envoy-pyext so-path` prints)")
    p.add_argument("--admin", default="127.0.0.1:0", metavar="ADDRESS:PORT",
                   help="Envoy's admin interface (default: a free port on 127.0.0.1)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="envoy-pyext", description="Envoy HTTP filters written in Python: run, check and "
                                        "scaffold them.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a filter in Envoy, in front of an upstream",
                       description="Writes an Envoy configuration for the filter, starts Envoy "
                                   "1.40 with it and prints where it listens. Ctrl-C (or "
                                   "SIGTERM) stops Envoy.")
    _filter_args(p)
    _envoy_args(p)
    p.add_argument("--concurrency", type=int, default=1, help="Envoy worker threads")
    p.add_argument("--reload", action="store_true",
                   help="development reload: a saved change of the filter's package is used by "
                        "new streams within about a second, without restarting Envoy (a broken "
                        "save is logged, the last good code keeps serving)")
    p.add_argument("--log-level", default="error",
                   help="Envoy's own log level (default error; the filters' lines: "
                        "--filter-log-level)")
    p.add_argument("--filter-log-level", default="info",
                   help="the level of the filters' own log lines (dynamic_modules component)")
    p.add_argument("--timeout", type=float, default=60, help="seconds Envoy may take to start")
    p.add_argument("--for", dest="duration", type=float, default=0,
                   help="stop after this many seconds (default: run until stopped)")
    p.add_argument("--no-check", action="store_true",
                   help="do not import and check the filter here before starting Envoy")
    p.add_argument("--workdir", help="where Envoy's configuration and log go (default: a "
                                     "temporary directory)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("config", help="print the Envoy configuration `run` would use (YAML)")
    _filter_args(p)
    _envoy_args(p)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("check", help="import a filter, check its hooks, run parse_config",
                       description="Imports the class as Envoy would, runs the hook checks "
                                   "(misspelled hooks, signatures) and parse_config; exits "
                                   "non-zero with the reason when Envoy would refuse it.")
    _filter_args(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("new", help="scaffold a filter module and its test")
    p.add_argument("name", help="the module name (my_filter: my_filter.py, test_my_filter.py)")
    p.add_argument("--dir", default=".", help="where to write the files (default: here)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("so-path", help="print the path of the libpyfilter.so to use")
    p.set_defaults(func=cmd_so_path)

    p = sub.add_parser("build-so", help="build libpyfilter.so for this Python (needs a source "
                                        "checkout, a C++ compiler and Cython)")
    p.add_argument("--out", help="where to write it (default: the checkout's libpyfilter.so)")
    p.add_argument("--debug", action="store_true", help="unoptimised, with debug info")
    p.set_defaults(func=cmd_build_so)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as e:
        print(f"envoy-pyext: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        from ._native import FilterConfigError

        if isinstance(e, FilterConfigError):
            print(str(e), file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
