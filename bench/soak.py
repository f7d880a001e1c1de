#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""`make soak`: one Envoy (--concurrency 2) serving a mix of envoy-pyext filters under steady
load for a long time; fails on any lost request, on memory growth after warm-up, or when the
runtime's live counters do not return to their baseline. Not part of `make test`.

The mix, one listener each (bench/filters/): sync headers, async with `sleep(0)`, async awaiting
a timer and real I/O (a TCP connection to the local upstream), a whole-body buffering rewrite
(1 KiB POST), a streaming response transform, `Status.RUNNING` + a pool thread, one
`http_call` per request. The upstream is a second Envoy (direct responses, no Python). Load:
one wrk per listener (keep-alive HTTP/1.1), each response checked (status 200 and the filter's
`x-filter` header, bench/wrk/bench.lua check=1), plus, when h2load is available, HTTP/2 load on
the sync listener. Every 10 s: the Envoy's RSS, open fds, threads, `envoy_pyext.stats()` (a
filter answering on its own listener) and the requests served so far.

Verdict (docs/RELIABILITY.md, "Soak"):
- lost requests: every response that is not a 200 with the filter's header, every socket error
  (connect/read/write) and every timeout of the load generators, per listener: must be 0;
- Envoy alive at the end; no exception caught by the runtime (`stats()["errors"]` unchanged);
- RSS after warm-up: growth (last sample - first sample after warm-up) below --rss-growth-mib,
  and, when at least --slope-min-requests were served after warm-up, the least-squares slope of
  RSS over requests served below --rss-slope-mib (MiB per 100k requests);
- after the load, back at rest: `pending` and `live_callouts` at their values before it, no
  Filter object of the load's filters alive (`live_filters` by class), and every live stream
  one of the sampler's own (a worker deletes the stream it served last only on its next
  event); bounded wait, with a `gc.collect()` asked for half-way.

    bench/soak.py                          10 minutes (the default)
    bench/soak.py --duration 60            one minute
    bench/soak.py --requests 1000000       until a million responses (--duration then caps)
    bench/soak.py --so build/asan/libpyfilter.so --asan   (make test-asan's short soak)

Writes bench/results/soak-<UTC time>.json (or --out); exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoys as E  # noqa: E402
from run import machine_facts, parse_wrk, proc_rss_kib, wrk_version  # noqa: E402

from tests.integration import sanitizers  # noqa: E402
from tests.integration.harness import SO_PATH, filter_entry  # noqa: E402

RESULTS_DIR = E.BENCH / "results"
BODY = 1024


@dataclass(frozen=True)
class Route:
    name: str           # listener name
    filter_name: str    # module:Class (bench/filters)
    body: int = 0       # POST body bytes (0: GET)
    config: str = ""    # "{plain}": the upstream's plain port


ROUTES = [
    Route("sync", "bench_add_header:AddHeader"),
    Route("async_sleep0", "bench_add_header_async:AddHeaderAsyncSleep"),
    Route("async_io", "soak_filters:AsyncIO", config="{plain}"),
    Route("body_rewrite", "bench_upper_body:UpperBody", body=BODY),
    Route("stream_transform", "soak_filters:StreamUpper"),
    Route("running_thread", "soak_filters:Threaded"),
    Route("callout", "bench_callout:Callout"),
]
LIVE_KEYS = ("live_streams", "live_filters", "pending", "live_callouts")


def soak_config(so: Path, upstream_ports: dict[str, int], concurrency: int = 2) -> dict:
    listeners = [
        E.ListenerSpec(r.name, [filter_entry(r.filter_name,
                                             r.config.format(plain=upstream_ports["plain"]),
                                             so)], body=r.body > 0)
        for r in ROUTES]
    listeners.append(E.ListenerSpec("stats", [filter_entry("soak_filters:Stats", "", so)]))
    spec = E.ProcessSpec("soak", listeners, concurrency=concurrency, callout=True, python=True)
    return spec.config(upstream_ports)


# ---- sampling ---------------------------------------------------------------------------------

def proc_counts(pid: int) -> dict[str, int]:
    threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
    return {"rss_kib": proc_rss_kib(pid), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": threads}


def runtime_stats(port: int, path: str = "/") -> dict:
    """envoy_pyext.stats() from inside Envoy (the Stats filter; its own stream and Filter are
    alive while it answers and count 1 each)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def served(envoy: E.EnvoyProc) -> int:
    """Requests completed so far on the filter listeners (Envoy's own counters)."""
    st = envoy.stats(r"^http\..*\.downstream_rq_completed$")
    return sum(v for k, v in st.items() if k.split(".")[1] in {r.name for r in ROUTES})


def sample(envoy: E.EnvoyProc, t0: float) -> dict:
    return {"t": round(time.monotonic() - t0, 1), "requests": served(envoy),
            **proc_counts(envoy.pid), "stats": runtime_stats(envoy.ports["stats"])}


# ---- load -----------------------------------------------------------------------------------

def wrk_argv(port: int, route: Route, conns: int, duration: float, limit: int) -> list[str]:
    args = ["user=alice", "check=1", "expect_filter=alice"]
    if route.body:
        args.append(f"body={route.body}")
    if limit:
        args.append(f"limit={limit}")
    return [E.ensure_wrk(), "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s",
            "--timeout", "10s", "-s", str(E.WRK_SCRIPT), f"http://127.0.0.1:{port}/",
            "--", *args]


def wrk_losses(res: dict) -> dict[str, int]:
    e = res["errors"]
    return {"non_200_or_unchecked": res["check"]["bad"], "connect": e["connect"],
            "read": e["read"], "write": e["write"], "timeout": e["timeout"],
            "unanswered": res["requests"] - res["check"]["ok"] - res["check"]["bad"]}


def ensure_h2load() -> str | None:
    """h2load (Debian's nghttp2-client), installed with apt-get if missing; None (HTTP/2 load
    skipped, said so in the result) when that fails."""
    path, out = E.apt_install("nghttp2-client", "h2load")
    if path is None:
        print(f"soak: apt-get install nghttp2-client failed:\n{out}", flush=True)
    return path


def h2load_argv(h2load: str, port: int, duration: float, limit: int) -> list[str]:
    """h2load for `duration` s, or (limit > 0) for `limit` requests."""
    amount = ["-n", str(limit)] if limit else ["-D", str(max(1, round(duration)))]
    return [h2load, "-c2", "-m4", "-t1", *amount, "-H", "x-user: alice",
            f"http://127.0.0.1:{port}/"]


H2_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout")
H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def parse_h2load(out: str) -> dict:
    r, s = H2_REQUESTS.search(out), H2_STATUS.search(out)
    if not r or not s:
        raise RuntimeError(f"h2load printed no summary:\n{out[-3000:]}")
    total, started, done, ok, failed, errored, timeout = map(int, r.groups())
    s2, s3, s4, s5 = map(int, s.groups())
    return {"requests": done, "started": started, "succeeded": ok, "failed": failed,
            "errored": errored, "timeout": timeout, "status": {"2xx": s2, "3xx": s3, "4xx": s4,
                                                               "5xx": s5}}


def h2_losses(res: dict) -> dict[str, int]:
    return {"non_2xx": res["requests"] - res["status"]["2xx"], "failed": res["failed"],
            "errored": res["errored"], "timeout": res["timeout"]}


# ---- verdict ----------------------------------------------------------------------------------

def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (None for fewer than 3 points or no spread)."""
    if len(xs) < 3:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return None if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


def rss_verdict(samples: list[dict], warmup: float, args) -> dict:
    after = [s for s in samples if s["t"] >= warmup]
    out: dict = {"warmup_s": warmup, "samples_after_warmup": len(after),
                 "growth_bound_mib": args.rss_growth_mib, "slope_bound_mib_per_100k":
                 args.rss_slope_mib, "slope_min_requests": args.slope_min_requests}
    if len(after) < 2:
        out.update(ok=False, why="fewer than 2 samples after the warm-up: run longer")
        return out
    growth = (after[-1]["rss_kib"] - after[0]["rss_kib"]) / 1024
    reqs = after[-1]["requests"] - after[0]["requests"]
    s = slope([x["requests"] / 1e5 for x in after], [x["rss_kib"] / 1024 for x in after])
    out.update(growth_mib=round(growth, 2), requests_after_warmup=reqs,
               slope_mib_per_100k=None if s is None else round(s, 3),
               first_rss_mib=round(after[0]["rss_kib"] / 1024, 1),
               last_rss_mib=round(after[-1]["rss_kib"] / 1024, 1),
               max_rss_mib=round(max(x["rss_kib"] for x in after) / 1024, 1))
    why = []
    if growth >= args.rss_growth_mib:
        why.append(f"RSS grew {growth:.1f} MiB after warm-up (bound {args.rss_growth_mib})")
    if reqs >= args.slope_min_requests:
        out["slope_judged"] = True
        if s is not None and s >= args.rss_slope_mib:
            why.append(f"RSS slope {s:.2f} MiB per 100k requests (bound {args.rss_slope_mib})")
    else:
        out["slope_judged"] = False
        out["slope_not_judged_why"] = (f"{reqs} requests after warm-up, fewer than "
                                       f"{args.slope_min_requests}")
    out.update(ok=not why, why="; ".join(why))
    return out


SAMPLER = "Stats"  # the class of the sampler's own Filter objects


def stats_from_every_worker(port: int, concurrency: int, path: str) -> dict:
    """`concurrency` connections opened at once (Envoy's exact balance gives each worker
    one), then one sampler request on each: every worker enters Python, which finalises the
    streams Envoy destroyed there meanwhile (the shim keeps such streams per worker until that
    worker next takes the GIL: cpp/http_filter.cc, the graveyard). Returns the last answer."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10)
             for _ in range(concurrency)]
    try:
        for c in conns:
            c.connect()
        last: dict = {}
        for c in conns:
            c.request("GET", path)
            last = json.loads(c.getresponse().read())
        return last
    finally:
        for c in conns:
            c.close()


def baseline(port: int, concurrency: int) -> dict:
    """The counters before the load (every worker having served the sampler)."""
    stats_from_every_worker(port, concurrency, "/live")
    return stats_from_every_worker(port, concurrency, "/live")


def at_rest(now: dict, base: dict) -> bool:
    """Back at rest: nothing pending, no call in flight, no Filter object of the load's
    filters alive, and every live stream one of the sampler's own. (Each worker may still hold
    the sampler stream it served last, until it next enters Python: how many there are
    depends on the order the workers answered, hence no equality with the baseline's
    live_streams.)"""
    others = {k: v for k, v in now["live_by_class"].items() if k != SAMPLER}
    return (not others and now["pending"] == base["pending"]
            and now["live_callouts"] == base["live_callouts"]
            and now["live_streams"] <= now["live_by_class"].get(SAMPLER, 0))


def back_to_baseline(port: int, base: dict, timeout: float, concurrency: int) -> dict:
    """Waits (bounded) for at_rest; asks for a gc.collect() half-way. Returns the last stats
    and whether they were at rest."""
    deadline = time.monotonic() + timeout
    path = "/live"
    while True:
        last = stats_from_every_worker(port, concurrency, path)
        if at_rest(last, base):
            return {"ok": True, "stats": last, "needed_gc": path == "/gc"}
        if time.monotonic() > deadline:
            return {"ok": False, "stats": last, "needed_gc": path == "/gc"}
        if time.monotonic() > deadline - timeout / 2:
            path = "/gc"
        time.sleep(0.5)


# ---- the run ----------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0,
                    help="seconds of load (default 600); with --requests: the upper bound")
    ap.add_argument("--requests", type=int, default=0,
                    help="stop once about this many responses were checked (all listeners)")
    ap.add_argument("--conns", type=int, default=4, help="connections per listener (wrk)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before RSS is judged (default: 60, or a fifth of a shorter run)")
    ap.add_argument("--rss-growth-mib", type=float, default=24.0,
                    help="bound on RSS growth after warm-up (MiB, default 24)")
    ap.add_argument("--rss-slope-mib", type=float, default=1.0,
                    help="bound on RSS slope after warm-up (MiB per 100k requests, default 1)")
    ap.add_argument("--slope-min-requests", type=int, default=200_000,
                    help="the slope is judged only with at least this many requests after "
                         "warm-up (default 200000)")
    ap.add_argument("--h2", choices=("auto", "on", "off"), default="auto",
                    help="HTTP/2 load with h2load on the sync listener: auto (install it if "
                         "missing, skip if that fails), on (fail without it), off")
    ap.add_argument("--concurrency", type=int, default=2, help="Envoy's workers (default 2)")
    ap.add_argument("--routes", default="",
                    help="comma-separated listener names to load (default: all of them)")
    ap.add_argument("--so", type=Path, default=SO_PATH, help="the libpyfilter.so under test")
    ap.add_argument("--asan", action="store_true",
                    help="the .so is the AddressSanitizer build: run Envoy as make test-asan "
                         "does and fail on any sanitizer report in its log")
    ap.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/"
                                                           "soak-<UTC time>.json)")
    args = ap.parse_args(argv)
    known = [r.name for r in ROUTES]
    args.routes = [x for x in args.routes.split(",") if x] or known
    if set(args.routes) - set(known):
        ap.error(f"--routes: unknown {sorted(set(args.routes) - set(known))}; known: {known}")
    if args.warmup is None:
        args.warmup = min(60.0, args.duration / 5)
    return args


def start_envoys(args, log_dir: Path) -> tuple[E.EnvoyProc, E.EnvoyProc]:
    upstream = E.EnvoyProc("upstream", E.upstream_config(), log_dir, cpus=None)
    try:
        E.wait_ready([upstream])
        ports = upstream.ports
        env = E.pyext_env()
        if args.asan:
            env = sanitizers.asan_env(env, args.so)

        def make():
            return E.EnvoyProc("soak", soak_config(args.so.resolve(), ports, args.concurrency),
                               log_dir, concurrency=args.concurrency, cpus=None, env=env)
        soak = sanitizers.start_ready(make) if args.asan else make()
        if not args.asan:
            E.wait_ready([soak])
        return upstream, soak
    except BaseException:
        upstream.stop()
        raise


def run_load(args, soak: E.EnvoyProc, h2load: str | None, t0: float) -> tuple[dict, list]:
    """Starts the load generators, samples until they are done; returns their results and the
    samples."""
    routes = [r for r in ROUTES if r.name in args.routes]
    limit = -(-args.requests // len(routes)) if args.requests else 0
    procs = {r.name: subprocess.Popen(
        wrk_argv(soak.ports[r.name], r, args.conns, args.duration, limit),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=E.launcher.preexec_die_with_parent) for r in routes}
    if h2load and "sync" in args.routes:
        procs["sync_h2"] = subprocess.Popen(
            h2load_argv(h2load, soak.ports["sync"], args.duration, limit), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, preexec_fn=E.launcher.preexec_die_with_parent)
    samples = []
    outputs: dict[str, str] = {}
    stopping = False
    try:
        next_at = time.monotonic()
        while len(outputs) < len(procs):
            if time.monotonic() >= next_at:
                samples.append(sample(soak, t0))
                s = samples[-1]
                print(f"soak: t={s['t']:6.0f}s requests={s['requests']:9d} "
                      f"rss={s['rss_kib'] / 1024:7.1f} MiB fds={s['fds']:4d} "
                      f"threads={s['threads']:3d} live_streams={s['stats']['live_streams']:4d} "
                      f"pending={s['stats']['pending']:3d}", flush=True)
                next_at += args.interval
            if args.requests and not stopping and served(soak) >= args.requests:
                stopping = True  # wrk's time is --duration: SIGINT makes it report now
                for name, p in procs.items():  # (h2load stops by itself: -n)
                    if name != "sync_h2" and p.poll() is None:
                        p.send_signal(signal.SIGINT)
            for name, p in procs.items():
                if name not in outputs and p.poll() is not None:
                    outputs[name] = p.stdout.read() if p.stdout else ""
            if not soak.alive():
                raise RuntimeError(f"Envoy exited during the soak:\n{soak.log()}")
            time.sleep(0.2)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
            if p.stdout:
                p.stdout.close()
    samples.append(sample(soak, t0))
    results = {}
    for name, out in outputs.items():
        if name == "sync_h2":
            res = parse_h2load(out)
            results[name] = {**res, "losses": h2_losses(res)}
        else:
            res = parse_wrk(out)
            results[name] = {"requests": res["requests"], "errors": res["errors"],
                             "check": res["check"], "latency_us": res["latency_us"],
                             "losses": wrk_losses(res)}
    return results, samples


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.so.exists():
        sys.exit(f"soak: {args.so} does not exist (make build-so-local)")
    if not E.async_available():
        sys.exit("soak: this build has no async hooks (envoy_pyext.FEATURES)")
    h2load = None
    if args.h2 != "off":
        h2load = ensure_h2load()
        if h2load is None:
            msg = "soak: h2load is not available (apt-get install nghttp2-client failed)"
            if args.h2 == "on":
                sys.exit(msg)
            print(msg + ": HTTP/2 load skipped", flush=True)
    print(f"soak: {len(args.routes)} filter listeners, {args.conns} connections each, "
          f"{'up to ' if args.requests else ''}{args.duration:g} s"
          f"{f', until ~{args.requests} responses' if args.requests else ''}; "
          f"HTTP/2 {'on' if h2load else 'off'}; .so {args.so}", flush=True)
    log_dir = E.new_log_dir()
    upstream, soak = start_envoys(args, log_dir)
    started = dt.datetime.now(dt.timezone.utc)
    try:
        t0 = time.monotonic()
        base = baseline(soak.ports["stats"], args.concurrency)
        results, samples = run_load(args, soak, h2load, t0)
        settle = back_to_baseline(soak.ports["stats"], base, 30, args.concurrency)
        settle["envoy_active"] = {k: v for k, v in soak.stats(
            r"downstream_(rq|cx)_active$").items() if v}  # (where a stream is left, if one is)
        end = runtime_stats(soak.ports["stats"])
        alive = soak.alive()
    finally:
        soak.stop()
        upstream.stop()
    wall = time.monotonic() - t0
    log = soak.log(None)
    reports = sanitizers.reports(log) if args.asan else []
    losses = {name: r["losses"] for name, r in results.items()}
    lost = sum(sum(v.values()) for v in losses.values())
    rss = rss_verdict(samples, args.warmup, args)
    checks = {
        "no_request_lost": lost == 0,
        "envoy_alive": alive,
        "no_runtime_errors": end["errors"] == base["errors"],
        "rss_bounded": rss["ok"],
        "live_counters_back_to_baseline": settle["ok"],
        "no_sanitizer_report": not reports,
    }
    record = {
        "kind": "soak", "started": started.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1), "settings": {
            "duration_s": args.duration, "requests": args.requests, "conns": args.conns,
            "interval_s": args.interval,
            "routes": [r.__dict__ for r in ROUTES if r.name in args.routes],
            "h2load": bool(h2load), "so": str(args.so), "asan": args.asan,
            "concurrency": args.concurrency},
        "requests_total": sum(r["requests"] for r in results.values()),
        "lost_total": lost, "load": results, "rss": rss,
        "baseline": {k: base[k] for k in (*LIVE_KEYS, "errors")},
        "after": {"settle": settle, "errors": end["errors"]},
        "sanitizer_reports": [r[:2000] for r in reports[:5]],
        "checks": checks, "passed": all(checks.values()),
        "machine": machine_facts(), "wrk": wrk_version(), "envoy": E.envoy_version(),
        "samples": samples, "log_dir": str(log_dir),
    }
    out = args.out or RESULTS_DIR / f"soak-{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"soak: {record['requests_total']} requests in {wall:.0f} s, lost {lost}; RSS "
          f"growth after warm-up {rss.get('growth_mib')} MiB, slope "
          f"{rss.get('slope_mib_per_100k')} MiB/100k requests; baseline "
          f"{'back' if settle['ok'] else 'NOT back'}; result {out}", flush=True)
    for name, ok in checks.items():
        print(f"soak: {'ok  ' if ok else 'FAIL'} {name}", flush=True)
    if lost:
        print(f"soak: losses per listener: {json.dumps(losses)}", flush=True)
    if not rss["ok"]:
        print(f"soak: RSS: {rss['why']}", flush=True)
    if not settle["ok"]:
        print(f"soak: live counters before {record['baseline']}, after {settle['stats']}",
              flush=True)
    for r in reports[:3]:
        print(f"soak: sanitizer report:\n{r}", flush=True)
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
