# envoy-pyext: Apache-2.0
#
# Coroutines. A hook that returns a coroutine (or any awaitable) is stepped right there on the
# Envoy worker, with the runtime's event loop installed as the running loop:
#   - it finishes without suspending: done, no thread hop;
#   - it yields a bare None (asyncio.sleep(0), a cooperative yield): the next step runs on the
#     same worker, from Envoy's scheduler (no other thread involved);
#   - it waits on a future (I/O, timers, other tasks): it continues as a Task on the event-loop
#     thread, and its result comes back to the worker through Envoy's scheduler.
#
# The event loop: ONE thread ("envoy-pyext-asyncio"), started lazily, shared by every stream of
# every filter config. THREAD: the loop thread holds `_loop_lock` whenever it runs loop code and
# releases it only while it waits in select(); a worker takes the same lock to step a coroutine
# or create a Task, so loop internals (timers, ready queue, selector registrations) are never
# touched by two threads at once. Both sides wait for the lock with the GIL released.

import asyncio as _asyncio
import threading as _threading
from asyncio import events as _aio_events

cdef extern from "Python.h":
    bint PyCoro_CheckExact(object o)
    # Returns PYGEN_RETURN (0), PYGEN_NEXT (1), or PYGEN_ERROR (-1) with an exception set.
    int PyIter_Send(object iter, object arg, PyObject** presult) except -1
    ctypedef void* PyThread_type_lock
    PyThread_type_lock PyThread_allocate_lock()
    int PyThread_acquire_lock(PyThread_type_lock lock, int waitflag) nogil
    void PyThread_release_lock(PyThread_type_lock lock) nogil

cdef PyThread_type_lock _loop_lock = PyThread_allocate_lock()
_set_running_loop = _aio_events._set_running_loop


cdef inline void _lock_loop() noexcept:
    if PyThread_acquire_lock(_loop_lock, 0):
        return
    with nogil:
        PyThread_acquire_lock(_loop_lock, 1)


cdef inline void _unlock_loop() noexcept:
    PyThread_release_lock(_loop_lock)


cdef class _LockedSelect:
    """Replaces the loop's selector.select: waits for I/O without holding the loop lock."""
    cdef object select

    def __call__(self, timeout=None):
        _unlock_loop()
        try:
            return self.select(timeout)
        finally:
            _lock_loop()


cdef class _LockedRunOnce:
    """Replaces loop._run_once: one iteration of the loop, under the loop lock."""
    cdef object run_once

    def __call__(self):
        _lock_loop()
        try:
            self.run_once()
        finally:
            _unlock_loop()


cdef class _EventLoop:
    cdef readonly object loop
    cdef readonly object thread

    def __init__(self):
        loop = _asyncio.new_event_loop()
        select = _LockedSelect()
        select.select = loop._selector.select
        run_once = _LockedRunOnce()
        run_once.run_once = loop._run_once
        loop._selector.select = select
        loop._run_once = run_once
        self.loop = loop
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
    """Awaitable that continues a coroutine already advanced on a worker: it hands the Task
    what the coroutine yielded and forwards what the Task sends or throws (including
    cancellation) back into it."""

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


cdef object _step(object coro, object value, bint* finished):
    """Advances `coro` by one step on this thread, with the runtime's loop as the running loop.
    Sets finished[0] and returns the coroutine's result if it finished, else what it yielded.
    Raises what the coroutine raised."""
    cdef PyObject* res = NULL
    cdef int r
    cdef object loop = _get_event_loop().loop
    _lock_loop()
    try:
        _set_running_loop(loop)
        try:
            r = PyIter_Send(coro, value, &res)
        finally:
            _set_running_loop(None)
    finally:
        _unlock_loop()
    finished[0] = r == 0
    cdef object out = <object>res
    Py_DECREF(out)  # PyIter_Send returned a new reference; <object> took another
    return out


cdef object _hand_to_loop(object coro, object yielded, object done_callback):
    """Continues a coroutine that waits on a future as a Task on the loop thread."""
    cdef _EventLoop el = _get_event_loop()
    _lock_loop()
    try:
        task = el.loop.create_task(_drive(coro, yielded))
        task.add_done_callback(done_callback)
    finally:
        _unlock_loop()
    el.loop._write_to_self()  # wake select() so the loop sees the new task
    return task


cdef int _throw_into(object coro, object exc) except -1:
    """Cancels a coroutine parked on a worker: it sees `exc` at its await; if it insists on
    going on it is closed. Its own errors are logged."""
    cdef object loop = _get_event_loop().loop
    _lock_loop()
    try:
        _set_running_loop(loop)
        try:
            coro.throw(exc)
            coro.close()  # it swallowed the cancellation and yielded again
        except (StopIteration, _asyncio.CancelledError):
            pass
        except BaseException as e:
            _log(LL_DEBUG, f"envoy-pyext: a cancelled coroutine raised {e!r}")
        finally:
            _set_running_loop(None)
    finally:
        _unlock_loop()
    return 0


cdef class _Detached:
    """Done callback of an async on_log/on_destroy that went on on the loop: its error is
    logged and counted like any other."""
    cdef FilterConfig fc
    cdef str hook

    def __call__(self, task):
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        _stats.errors += 1
        self.fc.count_error()
        _log(LL_ERROR, f"envoy-pyext: {self.fc.name}.{self.hook} raised:\n{_format_exc(exc)}")


cdef int _run_detached(_Stream st, object result, str hook) except -1:
    """on_log / on_destroy declared async: the first step runs here, the rest (if it suspends)
    on the loop, detached from the stream; errors are logged and counted."""
    cdef bint finished
    cdef _Detached done
    if result is None or type(result) is _StatusType or not _is_awaitable(result):
        return 0
    coro = _as_coroutine(result)
    yielded = _step(coro, None, &finished)
    if not finished:
        done = _Detached.__new__(_Detached)
        done.fc = st._fc
        done.hook = hook
        _hand_to_loop(coro, yielded, done)
    return 0
