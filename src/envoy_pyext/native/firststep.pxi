# envoy-pyext: Apache-2.0
#
# A hook coroutine's first step, without building a Task for it. Most async hooks finish in
# their first step (they await nothing, or only what is ready), and building an asyncio.Task
# per hook costs more than a small hook itself (keyword parsing, Future init, registration in
# asyncio's sets, deallocation: 4k-8k instructions). So the first step runs as the *carrier*:
# one real, initialised asyncio.Task per interpreter that never runs steps of its own, entered
# as the loop's current task for the step (current_task(), asyncio.timeout, TaskGroup,
# anyio/sniffio see a Task; asyncio.all_tasks() does not list it during that step). Then:
#   - the coroutine finished: the carrier serves the next hook, unless something kept it (a
#     reference, a weak reference, a cancel request): then it takes the hook's outcome (done(),
#     result(), cancelled() as the hook's Task's would) and a new carrier is made;
#   - the coroutine suspended: the carrier BECOMES the hook's Task. It is re-initialised (as
#     Task.__init__ allows) over a _Resume of the same coroutine, which hands the Task what the
#     coroutine yielded, so the Task waits on it as if it had run the step itself; the object is
#     the same, so current_task() is the same Task before and after the first await. A new
#     carrier is made for the next hook.
# A loop with a task factory, a hook re-entered from inside another Task's step, and Python's
# pure-Python Task get a Task made as before (aio.pxi: _start_task).
# THREAD: called with the loop lock held, on the worker.

import _asyncio as _aio_c
import _weakref
import types as _types

from cpython.dict cimport PyDict_DelItem

cdef extern from "Python.h":
    PyObject* PyDict_SetDefault(object d, object key, object default) except NULL
    int PyIter_Send(object iter, object arg, PyObject** presult) except? -1
    Py_ssize_t Py_REFCNT(object o)

cdef extern from *:
    """
    /* asyncio's small C functions (_set_running_loop, _enter_task, _leave_task) called
       straight through their C entry points: each is called twice per hook. Any other kind
       of callable goes through vectorcall. */
    typedef PyObject *(*pyext_fast_kw)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
    typedef PyObject *(*pyext_fast)(PyObject *, PyObject *const *, Py_ssize_t);
    typedef PyObject *(*pyext_meth_o)(PyObject *, PyObject *);
    static PyObject *pyext_call1(PyObject *f, PyObject *a) {
        if (PyCFunction_Check(f) && PyCFunction_GET_FLAGS(f) == METH_O)
            return ((pyext_meth_o)(void (*)(void))PyCFunction_GET_FUNCTION(f))(
                PyCFunction_GET_SELF(f), a);
        return PyObject_Vectorcall(f, &a, 1, NULL);
    }
    static PyObject *pyext_call2(PyObject *f, PyObject *a, PyObject *b) {
        PyObject *args[2] = {a, b};
        if (PyCFunction_Check(f)) {
            int flags = PyCFunction_GET_FLAGS(f);
            if (flags == (METH_FASTCALL | METH_KEYWORDS))
                return ((pyext_fast_kw)(void (*)(void))PyCFunction_GET_FUNCTION(f))(
                    PyCFunction_GET_SELF(f), args, 2, NULL);
            if (flags == METH_FASTCALL)
                return ((pyext_fast)(void (*)(void))PyCFunction_GET_FUNCTION(f))(
                    PyCFunction_GET_SELF(f), args, 2);
        }
        return PyObject_Vectorcall(f, args, 2, NULL);
    }

    /* _set_running_loop(loop) for this thread, twice per hook (loop, then None). CPython 3.11's
       _asyncio keeps a thread's running loop in a small holder object (type
       "_RunningLoopHolder": the object header, then the loop) stored in the thread state's
       dict, and makes a new one at every call (an allocation and a dict store, ~430
       instructions). Here the worker keeps the holder the real function made for it and
       switches its loop field in place while the holder is still the thread's: the thread
       state's dict and this thread's reference are its only two (asyncio only ever borrows
       it, in its one-entry cache, and then reads the field as well). Anything else (3.12+,
       where the loop is stored directly; a holder of another shape; a thread whose holder
       was replaced by a call made elsewhere) goes through the function. */
#if PY_VERSION_HEX < 0x030C0000
    typedef struct { PyObject_HEAD PyObject *rl_loop; } pyext_rl_holder;
    static __thread PyObject *pyext_rl_mine = NULL;
    static __thread PyThreadState *pyext_rl_tstate = NULL;  /* whose dict holds it */
    static PyObject *pyext_rl_key = NULL;
    static int pyext_rl_off = 0;

    static void pyext_rl_learn(PyObject *loop) {
        PyObject *d, *h;
        if (pyext_rl_off) return;
        if (pyext_rl_key == NULL) {
            pyext_rl_key = PyUnicode_InternFromString("__asyncio_running_event_loop__");
            if (pyext_rl_key == NULL) { PyErr_Clear(); pyext_rl_off = 1; return; }
        }
        d = PyThreadState_GetDict();
        h = d == NULL ? NULL : PyDict_GetItemWithError(d, pyext_rl_key);
        if (h == NULL) { PyErr_Clear(); return; }
        if (strcmp(Py_TYPE(h)->tp_name, "_RunningLoopHolder") != 0
                || Py_TYPE(h)->tp_basicsize < (Py_ssize_t)sizeof(pyext_rl_holder)
                || Py_TYPE(h)->tp_itemsize != 0
                || ((pyext_rl_holder *)h)->rl_loop != loop) {
            pyext_rl_off = 1;   /* not the layout this code knows: the function from now on */
            return;
        }
        Py_INCREF(h);
        Py_XSETREF(pyext_rl_mine, h);
        pyext_rl_tstate = PyThreadState_Get();
    }
#endif

    static int pyext_set_running_loop(PyObject *setter, PyObject *loop) {
        PyObject *r;
#if PY_VERSION_HEX < 0x030C0000
        PyObject *h = pyext_rl_mine;
        if (h != NULL && Py_REFCNT(h) == 2 && pyext_rl_tstate == PyThreadState_Get()) {
            PyObject *old = ((pyext_rl_holder *)h)->rl_loop;
            Py_INCREF(loop);
            ((pyext_rl_holder *)h)->rl_loop = loop;
            Py_DECREF(old);
            return 0;
        }
#endif
        r = pyext_call1(setter, loop);
        if (r == NULL) return -1;
        Py_DECREF(r);
#if PY_VERSION_HEX < 0x030C0000
        pyext_rl_learn(loop);
#endif
        return 0;
    }

    /* Whether `o` has weak references: its type's weak-reference list, read in place (-1 when
       the type keeps it elsewhere). */
    static int pyext_has_weakrefs(PyObject *o) {
        Py_ssize_t off = Py_TYPE(o)->tp_weaklistoffset;
        if (off <= 0) return -1;
        return *(PyObject **)((char *)o + off) != NULL;
    }

    /* obj.<attr> through the attribute's descriptor, found on obj's exact type beforehand: no
       type or instance dictionary lookup. */
    static inline PyObject *pyext_descr_get(PyObject *descr, PyObject *obj) {
        return Py_TYPE(descr)->tp_descr_get(descr, obj, (PyObject *)Py_TYPE(obj));
    }
    """
    int pyext_has_weakrefs(object o)
    object pyext_descr_get(object descr, object obj)
    int pyext_set_running_loop(object setter, object loop) except -1
    object pyext_call1(object f, object a)
    object pyext_call2(object f, object a, object b)


cdef inline bint _has_weakrefs(object o) except -1:
    cdef int r = pyext_has_weakrefs(o)
    return r > 0 or r < 0 and _weakref_count(o) > 0


cdef object _data_descriptor(object cls, str name):
    """`name`'s descriptor on `cls` when it is a C getter (what asyncio.Task's C fields have)
    that instance dictionaries cannot override; None otherwise (read by attribute then)."""
    for klass in cls.__mro__:
        d = klass.__dict__.get(name)
        if d is not None:
            return d if type(d) is _types.GetSetDescriptorType else None
    return None


# A carrier's fields read after each step (a Task's C getters; ~100 instructions less each
# than task._must_cancel, which looks the name up in the type and instance dictionaries).
cdef object _D_MUST_CANCEL = _data_descriptor(_Task, "_must_cancel")
cdef object _D_CALLBACKS = _data_descriptor(_Task, "_callbacks")


cdef inline bint _must_cancel(object task) except -1:
    if type(task) is _Task and _D_MUST_CANCEL is not None:
        return pyext_descr_get(_D_MUST_CANCEL, task)
    return task._must_cancel


cdef inline bint _has_callbacks(object task) except -1:
    if type(task) is _Task and _D_CALLBACKS is not None:
        return pyext_descr_get(_D_CALLBACKS, task) is not None
    return task._callbacks is not None

cdef object _aio_enter_task = _aio_c._enter_task
cdef object _aio_leave_task = _aio_c._leave_task
cdef object _aio_unregister_task = _aio_c._unregister_task
# The dict current_task() reads (loop -> Task): _enter_task and _leave_task are a check, a set
# and a delete on it, done here in place (CPython 3.11-3.13; else through the functions).
cdef object _aio_current_tasks = getattr(_aio_c, "_current_tasks", None)
cdef dict _current_tasks = _aio_current_tasks if type(_aio_current_tasks) is dict else None
cdef object _future_set_result = _aio_c.Future.set_result     # (a Task refuses these two: its
cdef object _future_set_exception = _aio_c.Future.set_exception   # own step would set them)
cdef object _future_cancel = _aio_c.Future.cancel
cdef object _weakref_count = _weakref.getweakrefcount
cdef bint _CARRIER_OK = _asyncio.Task is _aio_c.Task   # (not the pure-Python Task)


@cython.freelist(8)
cdef class _Finished:
    """What _start_task returns for a coroutine that finished in its first step as the carrier:
    its value, or what it raised."""
    cdef object value
    cdef object exc
    cdef bint cancelled

    cdef object outcome(self):
        """The value; raises what the coroutine raised (as _task_outcome does for a Task).
        Read once: the record is cleared."""
        value, exc, self.value, self.exc = self.value, self.exc, None, None
        if self.cancelled:
            self.cancelled = False
            raise _asyncio.CancelledError("the hook's task was cancelled")
        if exc is not None:
            raise exc
        return value


cdef class _Resume:
    """The coroutine a carrier is re-initialised over when the hook's coroutine suspended in its
    first step: yields what that step yielded (the Task then waits on it, or steps again on a
    bare yield), then forwards send/throw/close to the coroutine. Frames, name and awaited
    object are the coroutine's (repr, get_stack)."""
    cdef object coro
    cdef object first
    cdef bint started

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        if not self.started:
            self.started = True
            first, self.first = self.first, None
            return first
        return self.coro.send(value)

    def throw(self, *args):
        self.started = True
        self.first = None
        return self.coro.throw(*args)

    def close(self):
        self.started = True
        self.first = None
        return self.coro.close()

    @property
    def cr_frame(self):
        return getattr(self.coro, "cr_frame", None)

    @property
    def cr_await(self):
        return getattr(self.coro, "cr_await", None)

    @property
    def cr_running(self):
        return getattr(self.coro, "cr_running", False)

    @property
    def cr_code(self):
        return getattr(self.coro, "cr_code", None)

    @property
    def __name__(self):
        return getattr(self.coro, "__name__", type(self.coro).__name__)

    @property
    def __qualname__(self):
        return getattr(self.coro, "__qualname__", type(self.coro).__qualname__)

    def __repr__(self):
        return repr(self.coro)


async def _idle():
    pass


cdef enum:
    _SLOT_ON_LOG = 6        # (hooks of a side: side * 3 + kind)
    _SLOT_ON_DESTROY = 7
    _N_SLOTS = 8


cdef inline int _carrier_slot(int side, int kind) noexcept:
    return side * 3 + kind


cdef object _new_carrier(object loop, object name):
    """A Task on `loop` that never steps: its own first step is caught and dropped, it is not
    in asyncio.all_tasks() and not reported when dropped pending."""
    global _catch_for, _caught
    coro = _idle()
    coro.close()    # (never run: dropping it later warns of nothing)
    _catch_for = PyThread_get_thread_ident()
    try:
        # (its own context: never stepped in; not the current one, a stream's)
        task = _Task(coro, loop=loop, name=name, context=_BASE_CONTEXT)
    finally:
        _catch_for = 0
    _caught = None
    _stats.hook_tasks += 1
    _aio_unregister_task(task)
    task._log_destroy_pending = False
    return task


cdef class _CarrierPark:
    """A hook coroutine that yielded bare (asyncio.sleep(0)) in a step taken as its carrier: it
    stays parked on the worker and takes its next step as the same carrier (_carrier_next,
    from pending.pxi) until it finishes; it becomes a Task (_promote) only when it waits on a
    future, is cancelled, or yields bare too often in a row. The carrier is its own meanwhile
    (out of its slot) and goes back to the slot when the coroutine finished, if nothing kept
    it."""
    cdef object task
    cdef object coro
    cdef list carriers
    cdef int slot


cdef object _step_exc = None     # what the coroutine raised in _carrier_send's step


cdef int _carrier_send(object loop, object task, object coro, object context,
                       PyObject** res) except -2:
    """One step of `coro` as the carrier `task`: the loop's current task, `loop` the running
    loop, in `context`. Returns 1 (it yielded *res), 0 (it returned *res), -1 (it raised:
    _step_exc), -3 (another Task is current: not stepped)."""
    global _step_exc
    cdef int r = -1
    cdef bint entered = False
    pyext_set_running_loop(_set_running_loop, loop)     # (a worker has none outside steps)
    try:
        if _current_tasks is None:
            pyext_call2(_aio_enter_task, loop, task)
        elif PyDict_SetDefault(_current_tasks, loop, task) != <PyObject*>task:
            return -3   # another Task is current (not expected: see _loop_depth)
        try:
            if not pyext_context_entered(context):  # (entered already: a hook re-entered
                pyext_context_enter(context)        # by Envoy from a sync hook)
                entered = True
            try:
                r = PyIter_Send(coro, None, res)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                _step_exc = e
                r = -1
            finally:
                if entered:
                    pyext_context_exit(context)
        finally:
            if _current_tasks is None:
                pyext_call2(_aio_leave_task, loop, task)
            else:
                PyDict_DelItem(_current_tasks, loop)
    finally:
        pyext_set_running_loop(_set_running_loop, None)
    return r


cdef _Finished _finished(object task, int r, PyObject* res):
    """The outcome of a carrier's step that ended the coroutine (r: _carrier_send's)."""
    global _step_exc
    cdef _Finished f = _Finished.__new__(_Finished)
    if r == 0:
        f.value = <object>res
        Py_DECREF(f.value)
    else:
        exc, _step_exc = _step_exc, None
        f.exc = exc
        f.cancelled = isinstance(exc, _asyncio.CancelledError)
    if r == 0 and _must_cancel(task):
        f.cancelled = True      # as a Task cancelled in its last step ends
    return f


cdef bint _carrier_kept(object task, Py_ssize_t ours) except -1:
    """After the coroutine ended: did something keep the carrier (a reference besides the
    caller's `ours`, a weak reference, a done callback, a cancel request)? Then it must end as
    the hook's Task would (_settle) and never serve again."""
    return _must_cancel(task) or Py_REFCNT(task) > ours or _has_weakrefs(task) \
        or _has_callbacks(task)


cdef object _first_step(object loop, object coro, object context, list carriers,
                        int slot, bint park_ok):
    """Takes the first step of `coro` in `context` as the carrier `carriers[slot]` (one per
    hook of a filter configuration, _carrier_slot: named after it once). Returns a
    _Finished; a _CarrierPark (it yielded bare, `park_ok`); the Task the carrier became
    (suspended otherwise); or None: the step cannot be taken this way here (the caller makes
    a Task)."""
    cdef PyObject* res = NULL
    cdef int r
    cdef _Finished f
    cdef _CarrierPark park
    if not _CARRIER_OK or _loop_depth != 1 or loop is not _loop_of_dict or _loop_has_factory:
        return None     # (depth: a hook re-entered from a Task's step on this worker)
    task = carriers[slot]
    if task is None:
        name = getattr(coro, "__qualname__", None)
        task = _new_carrier(loop, name if name is not None else "envoy-pyext hook")
        carriers[slot] = task
    r = _carrier_send(loop, task, coro, context, &res)
    if r == -3:
        return None
    if r == 1:      # it yielded: suspended
        yielded = <object>res
        Py_DECREF(yielded)
        carriers[slot] = None
        if park_ok and yielded is None and not _must_cancel(task):
            park = _CarrierPark.__new__(_CarrierPark)
            park.task = task
            park.coro = coro
            park.carriers = carriers
            park.slot = slot
            return park
        return _promote(loop, task, coro, yielded, context)
    f = _finished(task, r, res)
    # (references: `task` here and carriers[slot])
    if _carrier_kept(task, 2):
        carriers[slot] = None
        _settle(task, f)
    return f


cdef object _carrier_next(object loop, _CarrierPark park, object context, bint park_ok):
    """The next step of a parked coroutine, as its carrier (loop locked, on the worker).
    Returns `park` (it yielded bare again and may stay), the Task the carrier became, or a
    _Finished: then the carrier is park.task still, for _carrier_release."""
    cdef PyObject* res = NULL
    cdef int r
    task = park.task
    if _must_cancel(task):  # cancelled while parked (a deadline, task.cancel()): as a Task
        r = -3
    else:
        r = _carrier_send(loop, task, park.coro, context, &res)
    if r == -3:
        park.task = None
        return _promote(loop, task, park.coro, None, context)
    if r == 1:
        yielded = <object>res
        Py_DECREF(yielded)
        if park_ok and yielded is None and not _must_cancel(task):
            return park
        park.task = None
        return _promote(loop, task, park.coro, yielded, context)
    return _finished(task, r, res)


cdef object _unpark(object loop, _CarrierPark park, object context):
    """A parked coroutine whose stream abandoned it becomes a Task, its next step queued on
    the loop (not taken here: this may run inside another Task's step). Returns the Task."""
    task = park.task
    park.task = None
    return _promote(loop, task, park.coro, None, context, True)


cdef int _carrier_release(_CarrierPark park, _Finished f) except -1:
    """The parked coroutine ended: its carrier goes back to its slot (when the slot is empty),
    or ends as the hook's Task would when something kept it. Other than park.task, the
    caller's _Pending holds it (p.task), nothing else of the runtime."""
    task = park.task
    park.task = None
    # (references: `task` here, p.task)
    if _carrier_kept(task, 2):
        _settle(task, f)
    elif park.carriers[park.slot] is None:
        park.carriers[park.slot] = task
    return 0


cdef int _settle(object task, _Finished f) except -1:
    """A carrier something kept: it takes the hook's outcome, as the hook's Task would have."""
    if f.cancelled:
        _future_cancel(task)
    elif f.exc is not None:
        _future_set_exception(task, f.exc)
        task._log_traceback = False     # (the runtime answers the error itself)
    else:
        _future_set_result(task, f.value)
    return 0


cdef object _promote(object loop, object task, object coro, object yielded, object context,
                     bint queue=False):
    """The carrier `task` becomes the Task of `coro`, which suspended yielding `yielded`: the
    Task's first step takes `yielded` as its own (waits on the future, or steps again). The
    step runs here, or with `queue` (a coroutine parked after a bare yield, promoted from
    wherever its stream ended: maybe inside another Task's step) is queued on the loop, to
    send None into the coroutine. Done callbacks the carrier had (`add_done_callback` on
    current_task(), a Task awaiting it) carry over (Task.__init__ clears them)."""
    global _catch_for, _caught
    cdef _Resume resume = _Resume.__new__(_Resume)
    cdef _Step step
    resume.coro = coro
    resume.first = yielded
    resume.started = queue
    must_cancel = task._must_cancel
    msg = task._cancel_message if must_cancel else None
    callbacks = task._callbacks
    _catch_for = PyThread_get_thread_ident()
    try:
        task.__init__(resume, loop=loop, name=task.get_name(), context=context)
    finally:
        _catch_for = 0
    first, _caught = _caught, None
    if callbacks:
        for fn, ctx in callbacks:
            task.add_done_callback(fn, context=ctx)
    if first is None and not queue:     # (not caught: queued as a Handle, where `queue` wants it)
        first = _take_step(loop, task)
    if first is not None:
        if queue:
            step = <_Step>first
            _loop_call_soon(step.callback, context=step.context)
        else:
            _run_step(loop, first)
    if must_cancel:     # cancelled in its first step (Task.__init__ forgot it): now that it waits
        task.cancel(msg)
    return task
