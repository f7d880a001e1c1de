#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""Start Envoy 1.40.0 with libpyfilter.so and a configuration file (default envoy-golang.yaml),
say where to send a request, and keep serving until Ctrl-C (or --for N seconds). (`make run`
uses `envoy-pyext run`, which writes the configuration itself; this runs any file.)

Envoy is started by envoy_pyext.launcher: its output goes to this terminal (and to a log
file), and the addresses printed are those Envoy really bound, read back from its admin API.
If Envoy exits (a port in use, a configuration error), this fails with its status and the tail
of its log. Envoy stops with this process (Ctrl-C, SIGTERM, or this process dying)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from envoy_pyext import launcher

ROOT = Path(__file__).resolve().parent.parent


def banner(envoy: launcher.Envoy) -> str:
    try:
        filters = ", ".join(envoy.filter_names()) or "(none)"
    except OSError:
        filters = "?"
    lines = [f"envoy-pyext: Envoy (pid {envoy.pid}) serves {filters}"]
    for name, (address, port) in envoy.addresses.items():
        lines.append(f"  listener {name}: http://{address}:{port}/")
    lines.append(f"  admin:   http://127.0.0.1:{envoy.admin_port}/")
    if envoy.addresses:
        # The first listener of the configuration is the one to try (the proxy, in the sample).
        address, port = next(iter(envoy.addresses.values()))
        lines.append(f"  try:     curl -i -H 'x-user: alice' http://{address}:{port}/")
    lines.append("  stop:    Ctrl-C")
    rule = "=" * 72
    return "\n".join(["", rule, *lines, rule, ""])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="envoy-golang.yaml",
                    help="Envoy configuration (YAML or JSON), relative to the repository root")
    ap.add_argument("--for", dest="duration", type=float, default=0,
                    help="stop after this many seconds (0: until Ctrl-C)")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds Envoy may take to become ready")
    ap.add_argument("--workdir", default="build/run",
                    help="where Envoy's log and admin-address file go (relative to the root)")
    args = ap.parse_args()

    # SIGTERM (e.g. `timeout make run`) stops Envoy too: unwind through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # The repository root is Envoy's working directory (the configuration's ./libpyfilter.so)
    # and on its PYTHONPATH (samples.add_header).
    envoy = launcher.Envoy(ROOT / args.config, workdir=ROOT / args.workdir,
                           cwd=ROOT, pythonpath=[ROOT], concurrency=args.concurrency,
                           log_level=args.log_level, echo=sys.stdout.buffer)
    try:
        envoy.start()
        try:
            envoy.wait_ready(args.timeout)
        except launcher.EnvoyError as e:
            print(f"\nenvoy-pyext: {e}", file=sys.stderr)
            print(f"envoy-pyext: the whole log: {envoy.log_path}", file=sys.stderr)
            return 1
        print(banner(envoy), flush=True)
        if args.duration:
            deadline = time.monotonic() + args.duration
            while envoy.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
        else:
            envoy.proc.wait()
        if not envoy.alive() and envoy.returncode not in (0, None):
            print(f"envoy-pyext: Envoy exited with status {envoy.returncode}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        pass
    finally:
        envoy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
