# envoy-pyext: Apache-2.0
#
# The runtime's asyncio event loop: ONE thread ("envoy-pyext-asyncio"), started lazily, shared
# by every stream of every filter config. A hook that returns a coroutine first runs it inline on
# the Envoy worker, with this loop installed as the running loop; a coroutine that finishes
# without suspending costs no thread hop at all. One that suspends continues as a Task on the
# loop thread, and its result comes back to the worker through Envoy's scheduler.
#
# THREAD: the loop thread holds `lock` whenever it runs loop code and releases it only while it
# waits in select(). The worker takes the same lock for the inline step, so loop internals
# (timers, ready queue, selector registrations) are never touched by two threads at once.

import asyncio as _asyncio
import threading as _threading
from asyncio import events as _aio_events

cdef extern from "Python.h":
    bint PyCoro_CheckExact(object o)


cdef class _EventLoop:
    cdef readonly object loop
    cdef readonly object lock
    cdef readonly object thread

    def __init__(self):
        loop = _asyncio.new_event_loop()
        lock = _threading.Lock()
        selector_select = loop._selector.select
        loop_run_once = loop._run_once

        def select(timeout=None):
            lock.release()
            try:
                return selector_select(timeout)
            finally:
                lock.acquire()

        def run_once():
            with lock:
                loop_run_once()

        loop._selector.select = select
        loop._run_once = run_once
        self.loop = loop
        self.lock = lock
        self.thread = _threading.Thread(target=self._run, name="envoy-pyext-asyncio", daemon=True)
        self.thread.start()

    def _run(self):
        _asyncio.set_event_loop(self.loop)
        self.loop.run_forever()


cdef _EventLoop _event_loop = None


def event_loop():
    """The runtime's shared asyncio event loop (started on first use)."""
    return _get_event_loop().loop


cdef _EventLoop _get_event_loop():
    global _event_loop
    if _event_loop is None:
        _event_loop = _EventLoop()
    return _event_loop


class _Resume:
    """Awaitable that continues a coroutine already advanced by one step (inline, on the
    worker): it hands the Task what the coroutine yielded and forwards what the Task sends or
    throws (including cancellation) back into it."""

    __slots__ = ("coro", "first")

    def __init__(self, coro, first):
        self.coro = coro
        self.first = first

    def __await__(self):
        coro = self.coro
        yielded = self.first
        self.first = None
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _drive(coro, first):
    return await _Resume(coro, first)


async def _await(awaitable):
    return await awaitable


cdef inline bint _is_awaitable(object result):
    return PyCoro_CheckExact(result) or hasattr(result, "__await__")


cdef inline object _as_coroutine(object awaitable):
    """Native and Cython-compiled coroutines step as they are; any other awaitable (a Future,
    an object with __await__) is wrapped in a coroutine."""
    if PyCoro_CheckExact(awaitable) or (hasattr(awaitable, "send") and hasattr(awaitable, "throw")):
        return awaitable
    return _await(awaitable)


def _log_detached(task):
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        _log(LL_ERROR, "envoy-pyext: an async on_log/on_destroy raised:\n" + "".join(
            _traceback.format_exception(type(exc), exc, exc.__traceback__)))


cdef int _run_detached(object result) except -1:
    """on_log / on_destroy declared async: the first step runs here, the rest (if it suspends)
    on the loop, detached from the stream; errors are logged."""
    if result is None or isinstance(result, int) or not _is_awaitable(result):
        return 0
    _step_inline(_as_coroutine(result), _log_detached)
    return 0


cdef tuple _step_inline(object coro, object done_callback):
    """Runs the coroutine's first step here. Returns (True, result) if it finished, else
    (False, task) after handing it to the loop thread as a Task with `done_callback`."""
    cdef _EventLoop el = _get_event_loop()
    el.lock.acquire()
    try:
        _aio_events._set_running_loop(el.loop)
        try:
            yielded = coro.send(None)
        except StopIteration as stop:
            return True, stop.value
        finally:
            _aio_events._set_running_loop(None)
        task = el.loop.create_task(_drive(coro, yielded))
        task.add_done_callback(done_callback)
    finally:
        el.lock.release()
    el.loop._write_to_self()  # wake select() so the loop sees the new task and timers
    return False, task
