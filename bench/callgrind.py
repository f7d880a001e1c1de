#!/usr/bin/env python3
# envoy-pyext: Apache-2.0
"""The benchmark's callgrind mode: instructions per request, per variant, deterministic.

Each Envoy under test runs under `valgrind --tool=callgrind` (one process per filter kind, the
same configs as bench/run.py, --concurrency 1). Per variant: warm-up requests, counters zeroed,
a fixed number of requests on one keep-alive connection (each must be answered 200), counters
dumped; the dump's total divided by the requests is the variant's instructions per request.
Instruction counts do not depend on what else the machine does (a few tenths of a percent move
with the timers Envoy runs while valgrind is slow), so they can be compared from run to run and
machine to machine, where the wall-clock tables of bench/run.py cannot on a busy machine.

    bench/run.py --callgrind          record bench/results/<date>-callgrind.json (~8 min)
    bench/run.py --callgrind --check  measure again and compare with the newest record:
                                      exit 1 when a variant costs > 10 % more (~8 min)

(`make bench-callgrind`, `make bench-check`). bench/profile.py uses the same measurement for
its breakdown by function (only inside the module's hooks).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoys as E  # noqa: E402

RESULTS_DIR = E.BENCH / "results"
SUFFIX = "-callgrind.json"
REGRESSION = 0.10   # bench-check fails above +10 % instructions per request on any variant


@dataclass(frozen=True)
class CgVariant:
    key: str            # as bench/run.py's variants
    label: str
    process: str        # bench/run.py's ProcessSpec name
    listener: str
    body: int = 0       # POST body bytes, or 0 (GET)
    baseline: str = "baseline"
    needs_async: bool = False
    requests: int = 1000


CG_VARIANTS = [
    CgVariant("baseline", "no filter", "base", "hdr"),
    CgVariant("lua", "Lua header filter", "lua", "hdr"),
    CgVariant("pyext_py", "envoy-pyext, pure Python", "py", "hdr"),
    CgVariant("pyext_async", "envoy-pyext, async def (no await)", "async", "hdr",
              needs_async=True),
    CgVariant("pyext_async_sleep", "envoy-pyext, async def, await asyncio.sleep(0) in each hook",
              "async_sleep", "hdr", needs_async=True),
    CgVariant("pyext_cython", "envoy-pyext, Cython-compiled", "cy", "hdr"),
    *(CgVariant(f"{kind}_body{size}", f"{who}, {size[:-1]} KiB body"
                + (" upper-cased" if kind != "baseline" else ""), proc, "body",
                int(size[:-1]) * 1024, f"baseline_body{size}", requests=n)
      for size, n in (("1k", 500), ("64k", 100))
      for kind, who, proc in (("baseline", "no filter", "base"), ("lua", "Lua", "lua"),
                              ("pyext", "envoy-pyext", "py"))),
    # the copying way (bytes(buffer).upper(), buffer.set): what Buffer.upper() saves
    *(CgVariant(f"pyext_body{size}_copy", f"envoy-pyext, {size[:-1]} KiB body upper-cased "
                "through copies", "py", "body_copy", int(size[:-1]) * 1024,
                f"baseline_body{size}", requests=n)
      for size, n in (("1k", 500), ("64k", 100))),
]
CG_VARIANT = {v.key: v for v in CG_VARIANTS}
WARMUP = 100


def module_hooks() -> list[str]:
    r = subprocess.run(["nm", "-D", "--defined-only", str(E.SO_PATH)], capture_output=True,
                       text=True, timeout=60)
    return [ln.split()[-1] for ln in r.stdout.splitlines()
            if "envoy_dynamic_module_on_http_filter_" in ln and "_config_" not in ln]


def requests_loop(port: int, n: int, body: int = 0) -> None:
    """`n` requests on one keep-alive connection: GET, or POST of `body` lower-case bytes. Each
    request goes out in one write (headers and body together), so Envoy reads it the same way
    every time whatever the timing (http.client writes the body separately)."""
    payload = (b"abcdefghijklmnopqrstuvwxyz0123\n" * (body // 31 + 1))[:body]
    head = (f"{'POST' if body else 'GET'} / HTTP/1.1\r\nhost: bench\r\nx-user: alice\r\n"
            + (f"content-length: {body}\r\n" if body else "") + "\r\n").encode()
    request = head + payload
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            sock.sendall(request)
            r = http.client.HTTPResponse(sock)
            r.begin()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"status {r.status}")
            if r.will_close:
                raise RuntimeError("Envoy closed the keep-alive connection")


def _total(dump: Path) -> int:
    total = 0
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    return total


def _workers_total(dumps: list[Path]) -> int:
    """The instructions of one dump made with --separate-threads=yes (a file per thread,
    `<out>.<dump>-<thread>`), without thread 1: Envoy's main thread runs the stats flush and
    other timers whose cost follows the wall-clock time valgrind takes (so the load of the
    machine), not the requests. The worker and the event-loop thread are counted."""
    total = 0
    for d in dumps:
        m = re.search(r"-(\d+)$", d.name)
        if m is None:
            raise RuntimeError(f"callgrind dump {d} has no thread suffix")
        if int(m.group(1)) != 1:
            total += _total(d)
    return total


def _cg_rows(text: str, n: int) -> list[tuple[float, str]]:
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(\S.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2)
        fn = name.split(":", 1)[1] if ":" in name.split(" [")[0] else name
        obj = name.rsplit(" [", 1)[1].rstrip("]").rsplit("/", 1)[-1] if " [" in name else ""
        fn = fn.split(" [")[0]
        rows.append((int(m.group(1).replace(",", "")) / max(1, n), f"{fn} ({obj})" if obj
                     else fn))
    return rows


def measure_process(fleet: E.Fleet, up: E.EnvoyProc, spec: E.ProcessSpec,
                    cells: list[tuple[str, str, int, int]], *, hooks_only: bool = False,
                    warm: int = WARMUP, breakdown: bool = False) -> dict[str, dict]:
    """One Envoy under callgrind, measuring each (key, listener, body bytes, requests) in turn:
    `warm` requests, counters zeroed, the requests, a dump. `hooks_only`: count only inside the
    module's hooks (--toggle-collect). `breakdown`: add callgrind_annotate's rows."""
    tag = f"{spec.name}-{'hooks' if hooks_only else 'all'}"
    out = fleet.log_dir / f"cg-{tag}.out"
    vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    if not breakdown:
        vg.append("--separate-threads=yes")   # counted without the main thread (_workers_total)
    if hooks_only:
        vg += ["--collect-atstart=no", *(f"--toggle-collect={h}" for h in module_hooks())]
    e = E.EnvoyProc(f"vg-{tag}", spec.config(up.ports), fleet.log_dir, cpus="0",
                    env=E.pyext_env() if spec.python else None, wrapper=vg)
    fleet.add(e)
    E.wait_ready([e], timeout=600)
    results = {}
    for key, listener, body, n in cells:
        port = e.ports[listener]
        requests_loop(port, warm, body)
        subprocess.run(["callgrind_control", "-z", str(e.pid)], check=True,
                       capture_output=True, timeout=300)
        seen = set(fleet.log_dir.glob(out.name + ".*"))
        requests_loop(port, n, body)    # each answered 200, or it raises
        subprocess.run(["callgrind_control", "-d", str(e.pid)], check=True,
                       capture_output=True, timeout=300)
        dumps = sorted(set(fleet.log_dir.glob(out.name + ".*")) - seen,
                       key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise RuntimeError(f"no callgrind dump for {tag} {key}:\n{e.log()}")
        served = n
        total = _total(dumps[-1]) if breakdown else _workers_total(dumps)
        r = {"process": spec.name, "listener": listener, "body_bytes": body,
             "hooks_only": hooks_only, "requests": served,
             "ir_per_request": round(total / max(1, served), 1)}
        if breakdown:
            ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                                  str(dumps[-1])], capture_output=True, text=True,
                                 timeout=600).stdout
            selfc = subprocess.run(["callgrind_annotate", "--threshold=100", str(dumps[-1])],
                                   capture_output=True, text=True, timeout=600).stdout
            r["inclusive"] = _cg_rows(ann, served)
            r["self"] = _cg_rows(selfc, served)
        results[key] = r
        print(f"callgrind {key:<18} {'hooks' if hooks_only else 'all':<5} "
              f"{r['ir_per_request']:>12,.0f} instructions/request ({served} requests)",
              flush=True)
    e.stop()
    return results


def run(keys: list[str] | None = None, scale: float = 1.0) -> dict:
    """Measures the chosen variants (all by default); returns the record bench/results keeps."""
    import run as R

    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("the callgrind mode needs valgrind (apt-get install valgrind)")
    with_async = E.async_available()
    chosen = [v for v in CG_VARIANTS if (keys is None or v.key in keys)
              and (with_async or not v.needs_async)]
    E.build_cython_filter()
    specs = R.process_specs(with_async)
    fleet = E.Fleet(E.new_log_dir())
    measured: dict[str, dict] = {}
    try:
        up = E.EnvoyProc("upstream", E.upstream_config(), fleet.log_dir, cpus="1")
        fleet.add(up)
        E.wait_ready([up])
        for proc in dict.fromkeys(v.process for v in chosen):
            cells = [(v.key, v.listener, v.body, max(10, int(v.requests * scale)))
                     for v in chosen if v.process == proc]
            measured.update(measure_process(fleet, up, specs[proc], cells))
    finally:
        fleet.close()
        shutil.rmtree(fleet.log_dir, ignore_errors=True)
    variants = {}
    for v in chosen:
        m = measured[v.key]
        variants[v.key] = {"label": v.label, "baseline": v.baseline, **m}
    return {"meta": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                     "kind": "callgrind", "envoy_version": E.envoy_version(),
                     "python": sys.version.split()[0], "warmup_requests": WARMUP,
                     "async_available": with_async},
            "variants": variants}


def newest_record(exclude: Path | None = None) -> Path | None:
    found = sorted(p for p in RESULTS_DIR.glob(f"*{SUFFIX}") if p != exclude)
    return found[-1] if found else None


def table(rec: dict) -> str:
    """Markdown: instructions per request, added over the variant's no-filter row, and the
    no-filter row's instructions over the variant's (the CPU-bound throughput ratio)."""
    v = rec["variants"]
    rows = ["| variant | instructions / request | added vs no filter | no filter / variant |",
            "|---|---|---|---|"]
    for key, r in v.items():
        base = v.get(r["baseline"])
        ir = r["ir_per_request"]
        added = "-" if base is None or key == r["baseline"] else \
            f"{ir - base['ir_per_request']:+,.0f}"
        ratio = "-" if base is None or key == r["baseline"] else \
            f"{base['ir_per_request'] / ir:.2f}x"
        rows.append(f"| {r['label']} | {ir:,.0f} | {added} | {ratio} |")
    return "\n".join(rows)


def compare(old: dict, new: dict, limit: float = REGRESSION) -> tuple[str, list[str]]:
    """A table of recorded vs now per variant, and the variants that regressed over `limit`."""
    rows = ["| variant | recorded | now | change |", "|---|---|---|---|"]
    bad = []
    for key, r in new["variants"].items():
        o = old["variants"].get(key)
        now = r["ir_per_request"]
        if o is None:
            rows.append(f"| {key} | - | {now:,.0f} | (not recorded) |")
            continue
        change = now / o["ir_per_request"] - 1
        flag = " REGRESSION" if change > limit + 1e-12 else ""   # (exactly +10 % passes)
        if flag:
            bad.append(f"{key}: {o['ir_per_request']:,.0f} -> {now:,.0f} ({change:+.1%})")
        rows.append(f"| {key} | {o['ir_per_request']:,.0f} | {now:,.0f} | "
                    f"{change:+.1%}{flag} |")
    return "\n".join(rows), bad


def main(check: bool, keys: list[str] | None, out: Path | None, scale: float) -> int:
    if keys:
        unknown = set(keys) - set(CG_VARIANT)
        if unknown:
            sys.exit(f"unknown callgrind variants: {', '.join(sorted(unknown))} "
                     f"(known: {', '.join(CG_VARIANT)})")
        keys = list(dict.fromkeys([*keys, *(CG_VARIANT[k].baseline for k in keys)]))
    old_path = newest_record()
    if check and old_path is None:
        sys.exit(f"bench-check: no recorded *{SUFFIX} in {RESULTS_DIR} (make bench-callgrind)")
    rec = run(keys, scale)
    print(table(rec))
    if check:
        old = json.loads(old_path.read_text())
        text, bad = compare(old, rec)
        print(f"\nagainst {old_path.relative_to(E.ROOT)} ({old['meta']['date']}):\n{text}")
        if out:
            out.write_text(json.dumps(rec, indent=1) + "\n")
        if bad:
            print(f"bench-check: FAILED, more than {REGRESSION:.0%} more instructions per "
                  f"request:\n  " + "\n  ".join(bad), file=sys.stderr)
            return 1
        print(f"bench-check: OK (no variant over +{REGRESSION:.0%})")
        return 0
    path = out or RESULTS_DIR / f"{dt.date.today().isoformat()}{SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"callgrind: wrote {path}")
    return 0


INSTR_PER_US = 5800   # the anchor machine: 161.9k instructions per no-filter request = 28 µs


def targets(rec: dict) -> list[tuple[str, str, str, bool | None]]:
    """The issue's targets read on instructions: (target, required, measured, met)."""
    v = {k: r["ir_per_request"] for k, r in rec["variants"].items()}
    out = []

    def ratio(key, base):
        return v[base] / v[key] if key in v and base in v else None

    py = ratio("pyext_py", "baseline")
    out.append(("pure Python header filter: no filter / filter", ">= 0.92x",
                f"{py:.3f}x" if py else "-", None if py is None else py >= 0.92))
    for size in ("1k", "64k"):
        p, lu = ratio(f"pyext_body{size}", f"baseline_body{size}"), \
            ratio(f"lua_body{size}", f"baseline_body{size}")
        ok = None if p is None or lu is None else p >= lu
        out.append((f"{size.upper()}iB body upper-cased: envoy-pyext vs Lua (no filter / filter)",
                    ">= Lua's", f"{p:.3f}x vs {lu:.3f}x" if ok is not None else "-", ok))
    if "pyext_async" in v and "pyext_py" in v:
        d = v["pyext_async"] - v["pyext_py"]
        out.append(("async def without suspension over the sync hook", "<= 1 µs "
                    f"({INSTR_PER_US:,} instructions)", f"{d:+,.0f} ({d / INSTR_PER_US:+.2f} µs)",
                    d <= INSTR_PER_US))
    if "pyext_async_sleep" in v and "pyext_py" in v:
        d = v["pyext_async_sleep"] - v["pyext_py"]
        out.append(("async, await asyncio.sleep(0) in both hooks, over the sync hook", "<= 7 µs "
                    f"({7 * INSTR_PER_US:,} instructions)",
                    f"{d:+,.0f} ({d / INSTR_PER_US:+.2f} µs)", d <= 7 * INSTR_PER_US))
    return out


def markdown_section(rec: dict, rel: str) -> str:
    trows = "\n".join(f"| {t} | {req} | {got} | **{'-' if ok is None else 'PASS' if ok else 'MISS'}"
                      f"** |" for t, req, got, ok in targets(rec))
    return f"""Recorded {rec['meta']['date']} (`{rel}`, Envoy `{rec['meta']['envoy_version']}`,
CPython {rec['meta']['python']}) by `make bench-callgrind`: each Envoy under
`valgrind --tool=callgrind`, {rec['meta']['warmup_requests']} warm-up requests, counters zeroed,
then 1000 header requests (500 with a 1 KiB body, 100 with 64 KiB) on one keep-alive
connection; the dump's instructions divided by the requests. Whole Envoy, all its threads
but the main one (its timers, e.g. the stats flush, follow the wall-clock time valgrind takes,
not the requests). These numbers do not depend on the machine's other load; `make bench-check`
measures again and fails when a variant costs more than 10 % over this record.

{table(rec)}

"no filter / variant" is what the variant's throughput ratio would be if Envoy were bound by
the instructions it runs (the wall-clock tables above measure the real ratio).

| target (on instructions) | required | measured | result |
|---|---|---|---|
{trows}

1 µs is taken as {INSTR_PER_US:,} instructions: the anchor machine ran the no-filter request
(161.9k instructions) in 28 µs of CPU."""
