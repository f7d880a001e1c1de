"""Hooks run inside real asyncio Tasks, in their stream's own contextvars context."""

import asyncio
import json
import sys

import httpx
import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess


@pytest.fixture(scope="module")
def envoy(upstream):
    filters = {
        "current": ("filters.tasks:CurrentTask", ""),
        "timeouts": ("filters.tasks:Timeouts", ""),
        "group": ("filters.tasks:Group", ""),
        "context": ("filters.tasks:ContextPerStream", ""),
        "contextsync": ("filters.tasks:ContextPerStreamSync", ""),
        "httpx": ("filters.tasks:HttpxCall", str(upstream.port)),
        "aiohttp": ("filters.tasks:AiohttpCall", str(upstream.port)),
        "first": ("filters.tasks:FirstStep", ""),
        "detaches": ("filters.tasks:Detaches", ""),
        "detached": ("filters.tasks:DetachedRan", ""),
        "report": ("filters.asyncf:Report", ""),
        "selfcancel": ("filters.tasks:SelfCancel", ""),
        "privateloop": ("filters.tasks:PrivateLoopThenAsync", ""),
        "asyncsync": ("filters.tasks:AsyncThenSync", ""),
    }
    with EnvoyProcess(filters, upstream.port) as env:
        yield env


def h(body):
    return upstream_view(body)["h"]


def test_current_task_from_the_first_step_on(envoy):
    status, _, body = envoy.request("current")
    assert status == 200, body
    seen = h(body)
    assert seen["x-task-first"] == ["True"]
    assert seen["x-task-same"] == ["True"]
    assert seen["x-task-after-timer"] == ["True"]


@pytest.mark.parametrize("mode", ["timeout", "wait_for"])
def test_deadlines_answer_504(envoy, mode):
    status, _, body = envoy.request("timeouts", headers={"x-mode": mode})
    assert (status, body) == (504, f"{mode} expired\n".encode())


def test_deadline_not_reached(envoy):
    status, _, body = envoy.request("timeouts", headers={"x-mode": "timeout-ok"})
    assert status == 200
    assert h(body)["x-in-time"] == ["1"]


def test_task_group(envoy):
    status, _, body = envoy.request("group")
    assert status == 200
    assert h(body)["x-group"] == ["10,20,30"]


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
def test_contextvars_belong_to_their_stream(envoy, http2):
    async def main():
        url = f"http://127.0.0.1:{envoy.ports['context']}/"
        async with httpx.AsyncClient(http2=http2, http1=not http2) as client:
            rs = await asyncio.gather(*[client.get(url, headers={"x-id": f"id-{i}"})
                                        for i in range(60)])
        return rs

    responses = asyncio.run(main())
    for i, r in enumerate(responses):
        assert r.status_code == 200
        assert r.headers["x-after-await"] == f"id-{i}"
        assert r.headers["x-after-yield"] == f"id-{i}"
        assert h(r.content)["x-before"] == ["unset"]   # no other stream's value leaked in


def test_a_recycled_stream_starts_clean(envoy):
    """Sequential requests: after the first, each takes the last one's recycled Filter and
    context (native/reuse.pxi), and finds neither its attributes nor its context variable."""
    def reused():
        status, _, body = envoy.request("report")
        assert status == 200
        return json.loads(body)["streams_reused"]

    before = reused()
    for i in range(5):
        status, rh, body = envoy.request("contextsync", headers={"x-id": f"seq-{i}"})
        assert status == 200, body
        assert h(body)["x-before"] == ["unset"]
        assert h(body)["x-attrs"] == ["none"]
        assert dict((k.lower(), v) for k, v in rh)["x-id-seen"] == f"seq-{i} seq-{i}"
    assert reused() >= before + 4


LOOP_THREAD = "envoy-pyext-asyncio"


def first_step(envoy, mode, **headers):
    status, rh, body = envoy.request("first", headers={"x-mode": mode, **headers})
    return status, dict((k.lower(), v) for k, v in rh), body


def test_first_step_that_finishes_is_a_real_task(envoy):
    status, rh, body = first_step(envoy, "finish", **{"x-id": "fin-1"})
    assert status == 200, body
    seen = h(body)
    assert seen["x-is-task"] == ["True"]
    assert seen["x-task-name"] == ["FirstStep.decode_headers"]   # named after its coroutine
    assert seen["x-loop"] == ["True"]           # asyncio.get_running_loop(): the runtime's
    assert seen["x-in-group-task"] == ["True"]  # asyncio.timeout + TaskGroup in the first step
    assert seen["x-same-task"] == ["True"]
    assert seen["x-thread-first"] != [LOOP_THREAD]  # the Envoy worker
    assert "x-thread-yield" not in seen
    assert rh["x-context-id"] == "fin-1"        # its ContextVar.set stays in the stream's context
    assert rh["x-task-done"] == "True"
    assert report(envoy)["pending"] == 0


def test_first_step_that_raises_fails_closed_and_is_counted(envoy):
    before = report(envoy)["errors"]
    status, _, body = first_step(envoy, "raise")
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "ValueError: first step raised" in envoy.log()
    assert report(envoy)["errors"] == before + 1
    assert report(envoy)["pending"] == 0


@pytest.mark.parametrize("mode", ["yield", "timer"])
def test_first_step_that_suspends(envoy, mode):
    status, rh, body = first_step(envoy, mode, **{"x-id": f"{mode}-1"})
    assert status == 200, body
    seen = h(body)
    assert seen["x-in-group-task"] == ["True"]
    assert seen["x-same-task"] == ["True"]
    worker = seen["x-thread-first"]
    assert worker != [LOOP_THREAD]
    assert seen["x-thread-yield"] == worker     # a bare yield: taken again on the worker
    if mode == "timer":
        assert seen["x-thread-timer"] == [LOOP_THREAD]
    assert rh["x-context-id"] == f"{mode}-1"
    assert rh["x-task-done"] == "True"
    assert report(envoy)["pending"] == 0


def report(envoy):
    status, _, body = envoy.request("report")
    assert status == 200
    return json.loads(body)


def test_httpx_client_in_a_hook(envoy):
    status, _, body = envoy.request("httpx")
    assert status == 200, body
    assert h(body)["x-side-status"] == ["200"]
    assert h(body)["x-side-path"] == ["/side"]


def test_aiohttp_client_in_a_hook(envoy):
    status, _, body = envoy.request("aiohttp")
    assert status == 200, body
    assert h(body)["x-side-status"] == ["200"]
    assert h(body)["x-side-path"] == ["/side2"]


def test_python_version_is_the_venvs(envoy):
    # The matrix runs this suite on 3.11, 3.12 and 3.13: Envoy's Python is the test's.
    assert sys.version_info >= (3, 11)


def test_a_task_started_by_a_first_step_that_finishes_runs_at_once(envoy):
    """The loop thread sleeps in select(); a hook's Task that finishes in its first step on the
    worker but leaves the loop work (here a task it created) must wake it."""
    for i in range(3):
        status, _, _ = envoy.request("detaches", headers={"x-id": f"d{i}"})
        assert status == 200
        status, _, body = envoy.request("detached", headers={"x-id": f"d{i}"})
        assert status == 200
        assert h(body)["x-ran"] == ["True"]


def self_cancel(envoy, mode):
    status, rh, body = envoy.request("selfcancel", headers={"x-mode": mode})
    return status, dict((k.lower(), v) for k, v in rh), body


def test_hooks_that_finish_in_their_first_step_make_no_task(envoy):
    """The first step runs as the hook's reusable carrier Task (firststep.pxi): after the first
    request, no-await hooks make no Task at all."""
    status, rh, body = self_cancel(envoy, "none")
    assert status == 200, body
    assert h(body)["x-task-name"] == ["SelfCancel.decode_headers"]
    before = int(rh["x-hook-tasks"])
    for _ in range(20):
        status, rh, body = self_cancel(envoy, "none")
        assert status == 200, body
        assert h(body)["x-same-task"] == ["True"]
    assert int(rh["x-hook-tasks"]) == before


def test_hooks_that_only_yield_bare_make_no_task(envoy):
    """A coroutine that yields bare (asyncio.sleep(0)) stays parked as its carrier and takes
    its next steps on the worker as the same Task: after the first request, no Task is made,
    and the carrier serves the next stream."""
    status, rh, body = self_cancel(envoy, "yield")
    assert status == 200, body
    before = int(rh["x-hook-tasks"])
    for _ in range(10):
        status, rh, body = self_cancel(envoy, "yield")
        assert status == 200, body
        assert h(body)["x-same-task"] == ["True"]
    assert int(rh["x-hook-tasks"]) == before
    assert report(envoy)["pending"] == 0


def test_a_cancel_from_a_later_step_arrives_at_the_next_await(envoy):
    status, _, body = self_cancel(envoy, "cancel-later")
    assert status == 200, body
    seen = h(body)
    assert seen["x-caught"] == ["later"]
    assert seen["x-same-task"] == ["True"]
    status, _, body = self_cancel(envoy, "yield")     # the next hook's carrier is not cancelled
    assert status == 200, body
    assert "x-caught" not in h(body)
    assert report(envoy)["pending"] == 0


@pytest.mark.parametrize("mode", ["callback", "callback-yield", "callback-timer"])
def test_a_done_callback_on_the_hooks_task_runs(envoy, mode):
    """A done callback added to current_task() (it holds no reference to the Task) runs when
    the hook's Task ends: the carrier is not reused with it attached, and one that becomes the
    hook's Task (it waits on a timer) keeps it."""
    for i in range(3):
        key = f"{mode}-{i}"
        status, rh, body = envoy.request("selfcancel", headers={"x-mode": mode, "x-id": key})
        assert status == 200, body
        status, _, body = envoy.request("detached", headers={"x-id": key})
        assert status == 200
        assert h(body)["x-ran"] == ["True"], key
    status, _, body = self_cancel(envoy, "yield")   # the next hook is a plain one
    assert status == 200, body
    assert report(envoy)["pending"] == 0


def test_a_task_kept_by_weak_reference_is_not_reused(envoy):
    self_cancel(envoy, "none")
    status, rh, _ = self_cancel(envoy, "none")
    before = int(rh["x-hook-tasks"])
    for _ in range(3):
        status, rh, body = self_cancel(envoy, "weak")
        assert status == 200, body
    # each "weak" hook's carrier is retired: the next hook of that kind makes a new one
    assert int(rh["x-hook-tasks"]) == before + 2


def test_a_hook_that_cancels_its_task_and_returns_fails_closed(envoy):
    status, _, body = self_cancel(envoy, "return")
    assert status == 500, body
    errors = envoy.stat("dynamicmodulescustom.envoy_pyext_errors.filters.tasks.SelfCancel")
    assert errors is not None and errors >= 1
    status, _, body = self_cancel(envoy, "none")      # the next one is not cancelled
    assert status == 200, body
    assert envoy.stat("dynamicmodulescustom.envoy_pyext_errors.filters.tasks.SelfCancel") == errors


@pytest.mark.parametrize("mode", ["await", "await-future"])
def test_a_cancel_from_the_first_step_arrives_at_the_next_await(envoy, mode):
    """As in a Task: the cancel requested in the first step is thrown in at the await that
    suspends it (a bare yield, or a future: cancelled with the Task)."""
    status, _, body = self_cancel(envoy, mode)
    assert status == 200, body
    seen = h(body)
    assert seen["x-same-task"] == ["True"]
    if mode == "await":
        assert seen["x-caught"] == ["by itself"]
        assert seen["x-cancelling"] == ["1"]
    else:
        assert seen["x-caught"] == ["future"]
        assert seen["x-future-cancelled"] == ["True"]
    assert report(envoy)["pending"] == 0


def test_running_loop_is_set_only_in_async_hooks(envoy):
    """The worker's running loop is the runtime's during an async hook's steps and nobody's in
    sync hooks, request after request (CPython 3.11 switches it in place: firststep.pxi), also
    when a sync hook ran a private loop of its own in between (asyncio.run on the worker)."""
    url = f"http://127.0.0.1:{envoy.ports['asyncsync']}/"
    purl = f"http://127.0.0.1:{envoy.ports['privateloop']}/"
    with httpx.Client() as client:      # (keep-alive: one connection, one worker)
        for i in range(6):
            r = client.get(url)
            assert r.status_code == 200
            assert h(r.content)["x-async"] == ["runtime"]
            assert r.headers["x-sync-after-async"] == "none"
            private = str(i % 2)
            r = client.get(purl, headers={"x-private": private})
            assert r.status_code == 200
            seen = h(r.content)
            assert seen["x-sync-before"] == ["none"]
            assert seen["x-sync-after"] == ["none"]
            if private == "1":
                assert seen["x-private-saw"] == ["other"]
            assert r.headers["x-async"] == "runtime"
