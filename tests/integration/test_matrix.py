"""Every stream ends: a generated matrix of filter classes, hook modes, statuses, request and
response shapes, over HTTP/1.1 and HTTP/2, against one real Envoy.

filters/matrix.py builds one class per set of overridden hooks (Matrix_<bits>); the request
header x-matrix-spec tells each hook its mode and status. The combinations are a
deterministic sample: a greedy pairwise cover of every pair of (reachable) factor values,
topped up with seeded random combinations. All of them run concurrently (one connection
each); a stream that makes no progress for TIMEOUT seconds is a hang, reported as a failure
of its own test. Afterwards stats() live_streams/pending must be back to their baseline.
How a data hook applies each status (so that no body is ever changed) is described in
filters/matrix.py.

Expected outcome of a combination (walk the hooks in stream order; the first rule that
applies decides):

    LOCAL_REPLY from a request hook, from encode_headers, or from encode_data while the
    response headers are held (encode_headers returned STOP_AND_BUFFER or
    STOP_AND_BUFFER_WATERMARK)                                  -> 418 with body local:<hook>
    LOCAL_REPLY from encode_data with the headers not held, or from encode_trailers
                                   -> 418 if the headers had not gone out yet, else a reset

    ERRORS BY DESIGN (answered as a filter error, counted in stats()["errors"], never a hang;
    whether the status comes from a plain hook or from a coroutine, suspended or not):
      - decode_headers returns STOP_NO_BUFFER with end_stream=True (a request without a
        body): nothing could ever continue the stream                      -> 500
      - decode_trailers returns STOP_NO_BUFFER                               -> 500
      - encode_headers returns STOP_NO_BUFFER with end_stream=True (a response without a
        body), before the response headers went out                         -> 500
      - encode_trailers returns STOP_NO_BUFFER: the response headers are out -> reset
        (a 500 if they are still held, by a buffering encode_headers)

    NOT ERRORS: STOP_AND_BUFFER / STOP_AND_BUFFER_WATERMARK where nothing is left to buffer
    (from a headers hook with end_stream=True, from a trailers hook) continue the stream at
    once, like STOP_AND_BUFFER from a data hook with end_stream=True.

    ANY END (unspecified, but the stream must end: a response or a reset, within the
    timeout):
      - STOP_NO_BUFFER from decode_headers/encode_headers when a body follows
      - STOP_NO_BUFFER from a data hook on a chunk with end_stream=False (the chunk is
        consumed, the body shrinks), unless the headers hook returned STOP_AND_BUFFER (the
        data hook then only sees the whole body, with end_stream=True)

    everything else                   -> 200, the upstream received exactly the request body
                                         and trailers sent, the client exactly the upstream's
                                         response body and trailers.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from .harness import EnvoyProcess
from .test_hangs import TIMEOUT, Hang, Req, Result, exchange, wait_for

# The same vocabulary as filters/matrix.py (kept here so the test does not import the filter
# module, which needs the runtime).
HOOKS = ("req_headers", "req_data", "req_trailers", "resp_headers", "resp_data", "resp_trailers")
MODES = ("sync", "async_inline", "async_yield", "async_sleep", "thread")
STATUSES = ("CONTINUE", "STOP_AND_BUFFER", "STOP_AND_BUFFER_WATERMARK", "STOP_NO_BUFFER",
            "LOCAL_REPLY")
THREAD_STATUSES = ("CONTINUE", "LOCAL_REPLY")
PROTOS = ("h1", "h2")
REQ_SHAPES = ("none", "body", "chunked", "trailers", "expect")
RESP_SHAPES = ("none", "body", "chunked", "trailers")

SEED = 20240611
PAIRWISE_CANDIDATES = 60
TOTAL = 300
PARALLEL = 48

SAB, SABW, SNB, LR, CONT = ("STOP_AND_BUFFER", "STOP_AND_BUFFER_WATERMARK", "STOP_NO_BUFFER",
                            "LOCAL_REPLY", "CONTINUE")
SHORT = {"sync": "S", "async_inline": "A0", "async_yield": "AY", "async_sleep": "AS",
         "thread": "T", CONT: "C", SAB: "SAB", SABW: "SABW", SNB: "SNB", LR: "LR"}


@dataclass(frozen=True)
class Combo:
    proto: str
    req: str
    resp: str
    spec: tuple  # ((hook, mode, status), ...) in HOOKS order, overridden hooks only

    @property
    def hooks(self) -> dict:
        return {h: (m, s) for h, m, s in self.spec}

    @property
    def class_name(self) -> str:
        return "Matrix_" + "".join("1" if h in self.hooks else "0" for h in HOOKS)

    @property
    def spec_header(self) -> str:
        return ",".join(f"{h}={m}:{s}" for h, m, s in self.spec)

    @property
    def id(self) -> str:
        hooks = "+".join(f"{h}.{SHORT[m]}.{SHORT[s]}" for h, m, s in self.spec) or "nohooks"
        return f"{self.proto}-req_{self.req}-resp_{self.resp}-{hooks}"


@dataclass(frozen=True)
class Expect:
    kind: str          # "ok", "local", "local_or_reset", "error", "error_or_reset", "ends"
    hook: str = ""     # for "local": the hook that replied
    reached: tuple = ()  # hooks that run before the outcome is decided


def expected(c: Combo) -> Expect:
    """The model in the module docstring."""
    hooks = c.hooks
    reached: list = []
    has_body = c.req != "none"
    fuzzy = False

    def st(h):
        reached.append(h)
        return hooks[h][1]

    def done(kind, hook=""):
        return Expect(kind, hook, tuple(reached))

    # request
    buffered = False
    if "req_headers" in hooks:
        s = st("req_headers")
        if s == LR:
            return done("local", "req_headers")
        if s == SNB:
            if not has_body:
                return done("error")
            fuzzy = True
        buffered = s == SAB
    if has_body and "req_data" in hooks:
        s = st("req_data")
        if s == LR:
            return done("ends" if fuzzy else "local", "req_data")
        if s == SNB and not buffered:
            fuzzy = True
    if c.req == "trailers" and "req_trailers" in hooks:
        s = st("req_trailers")
        if fuzzy:
            return done("ends")
        if s == LR:
            return done("local", "req_trailers")
        if s == SNB:
            return done("error")
    if fuzzy:
        return done("ends")
    # response
    resp_body = c.resp != "none"
    held = buffered_resp = False
    if "resp_headers" in hooks:
        s = st("resp_headers")
        if s == LR:
            return done("local", "resp_headers")
        if s == SNB:
            return done("ends" if resp_body else "error")
        held = s in (SAB, SABW)
        buffered_resp = s == SAB
    if resp_body and "resp_data" in hooks:
        s = st("resp_data")
        if s == LR:
            return done("local" if held else "local_or_reset", "resp_data")
        if s == SNB and not buffered_resp:
            return done("ends")
        if s == CONT and held and not buffered_resp:
            held = False  # STOP_AND_BUFFER_WATERMARK headers: the data hook let them go
    if c.resp == "trailers" and "resp_trailers" in hooks:
        s = st("resp_trailers")
        if s == SNB:
            return done("error" if held else "error_or_reset")
        if s == LR:
            return done("local_or_reset", "resp_trailers")
    return done("ok")


# ---- sampling -------------------------------------------------------------------------------

def _random_combo(rng: random.Random, shape: tuple | None = None) -> Combo:
    spec = []
    for h in HOOKS:
        if rng.random() < 0.5:
            mode = rng.choice(MODES)
            if mode == "thread":
                status = rng.choice(THREAD_STATUSES)
            else:
                status = rng.choices(STATUSES, weights=(6, 2, 2, 1, 1))[0]
            spec.append((h, mode, status))
    proto, req, resp = shape or (rng.choice(PROTOS), rng.choice(REQ_SHAPES),
                                 rng.choice(RESP_SHAPES))
    return Combo(proto, req, resp, tuple(spec))


def _factors(c: Combo) -> list:
    """The (factor, value) pairs that matter for this combination: the shapes, the protocol,
    and for each hook that actually runs (see `expected`), its mode and status; for the others
    whether they are overridden."""
    reached = set(expected(c).reached)
    out = [("proto", c.proto), ("req", c.req), ("resp", c.resp)]
    hooks = c.hooks
    for h in HOOKS:
        if h in reached:
            out += [(h + ".mode", hooks[h][0]), (h + ".status", hooks[h][1])]
        else:
            out.append((h + ".present", h in hooks))
    return out


def _pairs(c: Combo) -> set:
    f = _factors(c)
    return {(f[i], f[j]) for i in range(len(f)) for j in range(i + 1, len(f))}


def sample() -> list:
    """Every (protocol, request shape, response shape) once with random hooks, then a greedy
    pairwise cover (each round: the candidate covering most new pairs), then seeded random
    combinations up to TOTAL. Deterministic."""
    rng = random.Random(SEED)
    chosen: list = [_random_combo(rng, (p, q, r))
                    for p in PROTOS for q in REQ_SHAPES for r in RESP_SHAPES]
    covered: set = set().union(*(_pairs(c) for c in chosen))
    stale = 0
    while len(chosen) < TOTAL - 40 and stale < 3:
        best, gain = None, 0
        for _ in range(PAIRWISE_CANDIDATES):
            cand = _random_combo(rng)
            g = len(_pairs(cand) - covered)
            if g > gain:
                best, gain = cand, g
        if best is None or best in chosen:
            stale += 1
            continue
        stale = 0
        chosen.append(best)
        covered |= _pairs(best)
    # Every hook in every mode and status actually runs somewhere: a combination of its own
    # (that hook alone, with shapes that reach it) for any the cover left out.
    reached = {(h, *c.hooks[h]) for c in chosen for h in expected(c).reached}
    for h in HOOKS:
        for m in MODES:
            for st in (THREAD_STATUSES if m == "thread" else STATUSES):
                if (h, m, st) in reached:
                    continue
                req = "trailers" if h == "req_trailers" else rng.choice(
                    REQ_SHAPES[1:] if h == "req_data" else REQ_SHAPES)
                resp = "trailers" if h == "resp_trailers" else rng.choice(
                    RESP_SHAPES[1:] if h == "resp_data" else RESP_SHAPES)
                chosen.append(Combo(rng.choice(PROTOS), req, resp, ((h, m, st),)))
    seen = set(chosen)
    while len(chosen) < TOTAL:
        cand = _random_combo(rng)
        if cand not in seen:
            seen.add(cand)
            chosen.append(cand)
    return chosen


COMBOS = sample()


# ---- running them ---------------------------------------------------------------------------

REQ_BODY = [b"matrix-body-part-one;", b"matrix-body-part-two;", b"matrix-body-part-three"]
REQ_TRAILERS = [("x-req-trailer", "rt-value")]


def build_request(c: Combo, rid: str) -> Req:
    headers = [("x-matrix-spec", c.spec_header), ("x-req-id", rid)]
    if c.resp == "none":
        headers.append(("x-upstream-mode", "size:0"))
    elif c.resp == "chunked":
        headers.append(("x-upstream-chunked", "1"))
    elif c.resp == "trailers":
        headers.append(("x-upstream-trailer", "x-resp-trailer=st-value"))
    if c.req == "none":
        return Req("GET", "/m", headers)
    return Req("POST", "/m", headers, chunks=list(REQ_BODY),
               chunked=c.req in ("chunked", "trailers"),
               trailers=list(REQ_TRAILERS) if c.req == "trailers" else None,
               expect=c.req == "expect")


@dataclass
class Outcome:
    combo: Combo
    rid: str
    result: Result | None
    error: str = ""


@pytest.fixture(scope="module")
def envoy(upstream):
    filters = {f"m{c.class_name[7:]}": (f"filters.matrix:{c.class_name}", "") for c in COMBOS}
    filters["report"] = ("filters.matrix:MatrixReport", "")
    with EnvoyProcess(filters, upstream.port) as env:
        yield env


def report(envoy) -> dict:
    res = exchange("h1", envoy.ports["report"], Req("GET", "/report"))
    assert res.status == 200, res.describe()
    return json.loads(res.body)


@pytest.fixture(scope="module")
def outcomes(envoy):
    base = report(envoy)
    lock = threading.Lock()
    out: dict = {}

    def run(c: Combo):
        rid = uuid.uuid4().hex
        try:
            res = exchange(c.proto, envoy.ports[f"m{c.class_name[7:]}"], build_request(c, rid),
                           timeout=TIMEOUT)
            o = Outcome(c, rid, res)
        except Hang as e:
            o = Outcome(c, rid, None, f"HANG: {e}")
        except Exception as e:  # noqa: BLE001 - reported by the combination's test
            o = Outcome(c, rid, None, f"client error: {e!r}")
        with lock:
            out[c] = o

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(run, COMBOS))
    return {"base": base, "outcomes": out}


def _upstream_request(upstream, rid: str) -> dict | None:
    for r in list(upstream.received):
        if any(k == "x-req-id" and v == rid for k, v in r["headers"]):
            return r
    return None


def check(o: Outcome, upstream) -> None:
    c = o.combo
    exp = expected(c)
    assert o.result is not None, f"{o.error} (expected {exp.kind})"
    r = o.result
    what = f"expected {exp.kind} {exp.hook}; got {r.describe()}"
    if exp.kind == "ends":
        return  # it ended: a response or a reset
    if exp.kind == "local":
        assert (r.status, r.complete) == (418, True), what
        assert r.body == b"local:" + exp.hook.encode(), what
        return
    if exp.kind == "error":
        assert (r.status, r.complete) == (500, True), what
        return
    if exp.kind == "error_or_reset":
        assert r.status == 500 or not r.complete, what
        return
    if exp.kind == "local_or_reset":
        if r.complete:
            assert (r.status, r.body) == (418, b"local:" + exp.hook.encode()), what
        return
    assert (r.status, r.complete) == (200, True), what
    got = _upstream_request(upstream, o.rid)
    assert got is not None, "200 but the upstream never saw the request"
    assert got["body"] == (b"".join(REQ_BODY) if c.req != "none" else b""), got["body"]
    if c.req == "trailers":
        assert [list(t) for t in REQ_TRAILERS] == [t for t in got["trailers"]
                                                   if t[0] == "x-req-trailer"], got["trailers"]
    if c.resp == "none":
        assert r.body == b"", what
    else:
        view = json.loads(r.body)  # the upstream's whole JSON answer, byte for byte
        assert view["body_len"] == len(got["body"]) and view["path"] == "/m", view
    if c.resp == "trailers":
        assert r.trailers.get("x-resp-trailer") == ["st-value"], r.trailers


@pytest.mark.parametrize("combo", COMBOS, ids=[c.id for c in COMBOS])
def test_stream_ends(outcomes, upstream, combo):
    check(outcomes["outcomes"][combo], upstream)


def test_stats_back_to_baseline(envoy, outcomes):
    base = outcomes["base"]
    last: dict = {}

    def settled():
        last.update(report(envoy))
        return last["live_streams"] <= base["live_streams"] and last["pending"] == 0

    try:
        wait_for(settled, "live_streams/pending back to baseline")
    except AssertionError:
        raise AssertionError(f"not back to baseline: before {base}, now {last}") from None
    errors = sum(1 for c in COMBOS if expected(c).kind == "error")
    grew = last["errors"] - base["errors"]
    assert grew >= errors, (f"{errors} combinations are errors by design, but stats()['errors'] "
                            f"grew by {grew}")


def test_sample_covers_the_matrix():
    """The sample is what the docstring promises: every hook in every mode and status runs
    somewhere (reached, not short-circuited), with every request and response shape, on both
    protocols."""
    reached = set()
    for c in COMBOS:
        hooks = c.hooks
        for h in expected(c).reached:
            reached.add((h, *hooks[h]))
    missing = [(h, m, s) for h in HOOKS for m in MODES
               for s in (THREAD_STATUSES if m == "thread" else STATUSES)
               if (h, m, s) not in reached]
    assert not missing, missing
    assert {(c.proto, c.req, c.resp) for c in COMBOS} >= {
        (p, q, r) for p in PROTOS for q in REQ_SHAPES for r in RESP_SHAPES}
    assert len({c.class_name for c in COMBOS}) >= 32
    assert len(COMBOS) >= TOTAL
