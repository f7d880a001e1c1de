# envoy-pyext: Apache-2.0
#
# Coroutines. A hook that returns a coroutine (or any awaitable) runs as a real asyncio Task
# whose first step is taken right there on the Envoy worker (see "hook coroutines" below):
#   - it finishes without suspending: done, no thread hop;
#   - it yields a bare None (asyncio.sleep(0), a cooperative yield): the next step runs on the
#     same worker, from Envoy's scheduler (no other thread involved; pending.pxi bounds it);
#   - it waits on a future (I/O, timers, other tasks): the loop thread takes its next steps,
#     and its result comes back to the worker through Envoy's scheduler.
#
# The event loop: ONE thread ("envoy-pyext-asyncio"), started lazily, shared by every stream of
# every filter config. THREAD: the loop thread holds the loop lock whenever it runs loop code and
# releases it only while it waits in select(); a worker takes the same lock to step a coroutine
# or create a Task, so loop internals (timers, ready queue, selector registrations) are never
# touched by two threads at once. Both sides wait for the lock with the GIL released.

import asyncio as _asyncio
import threading as _threading
from asyncio import events as _aio_events

cdef extern from *:
    """
    #include <pthread.h>
    /* What PyThread_get_thread_ident() returns (threading.get_ident()), without the call into
       libpython: the thread checks of every view call use it. */
    static inline unsigned long pyext_thread_ident(void) { return (unsigned long)pthread_self(); }

    /* The loop lock: a plain mutex (a PyThread lock reads the clock on every acquire, even a
       non-blocking one). Taken and released by the same thread (_lock_loop/_unlock_loop). */
    static pthread_mutex_t pyext_loop_mutex = PTHREAD_MUTEX_INITIALIZER;
    static inline int pyext_loop_trylock(void) {
        return pthread_mutex_trylock(&pyext_loop_mutex) == 0;
    }
    static inline void pyext_loop_lock(void) { pthread_mutex_lock(&pyext_loop_mutex); }
    static inline void pyext_loop_unlock(void) { pthread_mutex_unlock(&pyext_loop_mutex); }
    """
    unsigned long PyThread_get_thread_ident "pyext_thread_ident"() nogil
    bint pyext_loop_trylock() nogil
    void pyext_loop_lock() nogil
    void pyext_loop_unlock() nogil

cdef extern from "Python.h":
    int PY_VERSION_HEX
    bint PyCoro_CheckExact(object o)

cdef object _set_running_loop = _aio_events._set_running_loop
cdef object _get_running_loop = _aio_events._get_running_loop
cdef object _Task = _asyncio.Task
_iscoroutine = _asyncio.iscoroutine


# The lock is re-entrant for its owner: a Task step taken on a worker (lock held) may itself
# need the loop locked (an http_call that fails at once resolves its future right there).
# THREAD: owner and depth are read and written with the GIL held.
cdef unsigned long _loop_owner = 0
cdef int _loop_depth = 0


cdef inline void _lock_loop() noexcept:
    global _loop_owner, _loop_depth
    cdef unsigned long me = PyThread_get_thread_ident()
    if _loop_depth and _loop_owner == me:
        _loop_depth += 1
        return
    if not pyext_loop_trylock():
        with nogil:
            pyext_loop_lock()
    _loop_owner = me
    _loop_depth = 1


cdef inline void _unlock_loop() noexcept:
    global _loop_owner, _loop_depth
    _loop_depth -= 1
    if _loop_depth == 0:
        _loop_owner = 0
        pyext_loop_unlock()


cdef class _LockedSelect:
    """Replaces the loop's selector.select: waits for I/O without holding the loop lock."""
    cdef object select

    def __call__(self, timeout=None):
        global _loop_scheduled
        _loop_scheduled = _loop_dict["_scheduled"]   # (run_once may have made a new list)
        _unlock_loop()
        try:
            return self.select(timeout)
        finally:
            _lock_loop()


cdef class _LockedRunOnce:
    """Replaces loop._run_once: one iteration of the loop, under the loop lock."""
    cdef object run_once

    def __call__(self):
        global _loop_scheduled
        _lock_loop()
        try:
            self.run_once()
        finally:
            _loop_scheduled = _loop_dict["_scheduled"]
            _unlock_loop()


@cython.freelist(8)
cdef class _Step:
    """A Task's first step, caught on its way to the ready queue (_call_soon): run directly."""
    cdef object callback
    cdef object context

    def _run(self):
        self.context.run(self.callback)


# loop.call_soon, replaced: while a worker creates a hook's Task (_new_task), the Task's first
# step is handed back to that worker instead of being queued as a Handle (which the worker would
# take off the queue again right away); every other call goes to the loop. A function, not an
# object with __call__: the Task calls it with `context=` as a keyword, which a vectorcall
# function receives without a dict being made.
cdef object _loop_call_soon = None      # the loop's own call_soon
cdef object _loop_of_dict = None        # the loop, its instance __dict__, ready queue and timer
cdef dict _loop_dict = None             # heap: read in place on every step (_timer_head,
cdef object _loop_ready = None          # _loop_needs_wake)
cdef list _loop_scheduled = None        # (the loop replaces the heap only in run_once)
cdef bint _loop_has_factory = False     # loop.set_task_factory was given one (_set_task_factory)
cdef object _loop_set_task_factory = None


def _set_task_factory(factory):
    """loop.set_task_factory, replaced: the runtime notes whether the loop has one."""
    global _loop_has_factory
    _loop_set_task_factory(factory)
    _loop_has_factory = factory is not None


cdef unsigned long _catch_for = 0       # the thread whose next call is caught, or 0
cdef _Step _caught = None


def _call_soon(callback, *args, context=None):
    global _catch_for, _caught
    cdef _Step step
    if _catch_for and not args and _catch_for == PyThread_get_thread_ident():
        _catch_for = 0
        step = _Step.__new__(_Step)
        step.callback = callback
        step.context = context
        _caught = step
        return None     # (the Task ignores what call_soon returns)
    return _loop_call_soon(callback, *args, context=context)


cdef class _EventLoop:
    cdef readonly object loop
    cdef readonly object thread

    def __init__(self):
        global _loop_call_soon, _loop_of_dict, _loop_dict, _loop_ready, _loop_set_task_factory
        global _loop_scheduled
        loop = _asyncio.new_event_loop()
        select = _LockedSelect()
        select.select = loop._selector.select
        run_once = _LockedRunOnce()
        run_once.run_once = loop._run_once
        _loop_call_soon = loop.call_soon
        _loop_of_dict = loop
        _loop_dict = loop.__dict__
        _loop_ready = loop._ready
        _loop_scheduled = loop._scheduled
        _loop_set_task_factory = loop.set_task_factory
        loop.set_task_factory = _set_task_factory
        loop._selector.select = select
        loop._run_once = run_once
        loop.call_soon = _call_soon
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


async def _await(awaitable):
    return await awaitable


cdef inline bint _is_awaitable(object result):
    return PyCoro_CheckExact(result) or hasattr(result, "__await__")


cdef object _as_coroutine(object awaitable):
    """What asyncio accepts as a Task's coroutine: native and Cython-compiled coroutines as
    they are; any other awaitable (a Future, an object with __await__) wrapped in one."""
    if PyCoro_CheckExact(awaitable) or _iscoroutine(awaitable):
        return awaitable
    return _await(awaitable)


# ---- hook coroutines as real asyncio Tasks, stepped on the worker ------------------------
#
# A hook's coroutine becomes a real asyncio.Task from its first step (current_task(),
# asyncio.timeout, TaskGroup, wait_for and the libraries built on them work as usual), but the
# runtime takes the Task's steps itself, on the Envoy worker, for as long as the Task yields
# bare (asyncio.sleep(0)): create_task() queues the first step on the loop's ready queue, and
# the runtime takes it off the queue (_take_step) and runs it here, with the loop locked and
# set as this thread's running loop, exactly as the loop thread would. Once the Task waits on
# a future, its next step is queued by asyncio itself when the future completes, on the loop
# thread. THREAD: every function below is called with the loop lock held.

cdef object _take_step(object loop, object task):
    """Removes the next step of `task` from the loop's ready queue and returns it (None when
    the task has none queued: it waits on a future, or it is done)."""
    cdef object ready = loop._ready
    for handle in list(ready):
        if getattr(handle._callback, "__self__", None) is task and not handle._cancelled:
            ready.remove(handle)
            return handle
    return None


cdef int _run_step(object loop, object handle) except -1:
    """Runs one queued step on this thread as the loop thread would."""
    pyext_set_running_loop(_set_running_loop, loop)
    try:
        if type(handle) is _Step:
            (<_Step>handle).context.run((<_Step>handle).callback)
        else:
            handle._run()
    finally:
        pyext_set_running_loop(_set_running_loop, None)
    return 0


cdef object _new_task(object loop, object coro, object context, object name):
    """A Task for `coro` in `context`, not started: returns (task, its first step). The Task
    is made as loop.create_task makes it (a loop without a task factory), its first step
    caught on the way to the ready queue (_call_soon)."""
    global _catch_for, _caught
    if loop._task_factory is not None:
        task = loop.create_task(coro, name=name, context=context)
        return task, _take_step(loop, task)
    _catch_for = PyThread_get_thread_ident()
    try:
        task = _Task(coro, loop=loop, name=name, context=context)
    finally:
        _catch_for = 0
    first, _caught = _caught, None
    if first is None:   # (not caught: the Task queued its step as usual)
        return task, _take_step(loop, task)
    return task, first


# CPython 3.12+: a Task made with eager_start=True while its loop runs takes its first step in
# its constructor (as the current task, in its context): no step queued and caught, and a Task
# that finishes there is never registered in asyncio's WeakSet of scheduled tasks (one that
# suspends is, as usual).
cdef bint _EAGER = PY_VERSION_HEX >= 0x030C0000
cdef bint _loop_running = False     # the loop thread runs the loop (it never stops)


cdef object _start_task(object loop, object coro, object context, list carriers, int slot,
                        bint park_ok=False):
    """Takes the first step of `coro` in `context` here. Returns a _Finished when it finished
    there (no Task made: firststep.pxi, `carriers[slot]`), else its Task: done, or suspended
    (its next step queued, or waiting on a future). The Task is made here only when the
    carrier cannot serve (a task factory, a nested step): its first step is taken as the loop
    thread would take it (see _run_step). A native coroutine's Task is named after it
    ("MyFilter.decode_headers"): on CPython 3.11 asyncio's own name, "Task-<n>", costs a
    string formatting per Task."""
    global _loop_running
    # (firststep.pxi: most end there; a bare yield is parked as the carrier when `park_ok`)
    first = _first_step(loop, coro, context, carriers, slot, park_ok)
    if first is not None:
        return first
    name = (<object>coro).__qualname__ if PyCoro_CheckExact(coro) else None
    _stats.hook_tasks += 1
    if _EAGER and loop._task_factory is None:
        if not _loop_running:
            _loop_running = loop.is_running()   # (not yet only while the loop thread starts)
        if _loop_running:
            prev = _get_running_loop()
            _set_running_loop(loop)
            try:
                # (loop= even though it is the running loop: 3.12's Task asks the argument
                # whether it is_running() before it resolves a missing loop)
                return _Task(coro, loop=loop, name=name, context=context, eager_start=True)
            finally:
                _set_running_loop(prev)
    task, first = _new_task(loop, coro, context, name)
    _run_step(loop, first)
    return task


cdef inline bint _task_done(object task) except -1:
    """What _start_task returned is finished: a _Finished first step, or a done Task."""
    return type(task) is _Finished or task.done()


cdef object _task_outcome(object task):
    """A finished Task's result; raises what it raised (CancelledError when cancelled)."""
    if type(task) is _Finished:
        return (<_Finished>task).outcome()
    try:
        return task.result()
    except _asyncio.CancelledError:
        if task.cancelled():
            raise _asyncio.CancelledError("the hook's task was cancelled") from None
        raise


cdef int _late_error(FilterConfig fc, str what, object exc) except -1:
    """An exception nobody can answer any more (a detached on_log/on_destroy, a hook its stream
    abandoned): logged with its traceback and counted, like any other."""
    _stats.errors += 1
    fc.count_error()
    site = _user_site(exc)
    _log(LL_ERROR, f"envoy-pyext: {fc.name}.{what}:\n{_format_exc(exc)}", site[0], site[1])
    return 0


cdef class _Detached:
    """Done callback of a Task nobody waits for: an async on_log/on_destroy that went on on the
    loop, or a hook whose stream abandoned it (pending_cancel). Its error is logged and
    counted like any other (a cancelled Task is not an error)."""
    cdef FilterConfig fc
    cdef str what       # "<hook> raised", "<hook> raised after its stream ended"

    @staticmethod
    cdef _Detached new(FilterConfig fc, str what):
        cdef _Detached d = _Detached.__new__(_Detached)
        d.fc = fc
        d.what = what
        return d

    def __call__(self, task):
        if task.cancelled() or task.exception() is None:
            return
        _late_error(self.fc, self.what, task.exception())


cdef int _run_detached(_Stream st, object result, str hook) except -1:
    """on_log / on_destroy declared async: the first step runs here, in a copy of the
    stream's context, the rest (if it suspends) on the loop, detached from the stream; errors
    are logged and counted."""
    cdef _Detached done
    cdef bint wake = False
    if result is None or type(result) is _StatusType or not _is_awaitable(result):
        return 0
    loop = _get_event_loop().loop
    _lock_loop()
    try:
        head = _timer_head(loop)
        task = _start_task(loop, _as_coroutine(result), st._context().copy(), st._fc.carriers,
                           _SLOT_ON_LOG if hook == "on_log" else _SLOT_ON_DESTROY)
        done = _Detached.new(st._fc, f"{hook} raised")
        if type(task) is _Finished:
            try:
                (<_Finished>task).outcome()
            except _asyncio.CancelledError:
                pass
            except BaseException as e:
                _late_error(done.fc, done.what, e)
        elif task.done():
            done(task)
        else:
            task.add_done_callback(done)
        wake = _loop_needs_wake(loop, head)     # (pending.pxi)
    finally:
        _unlock_loop()
    if wake:
        loop._write_to_self()
    return 0
