# envoy-pyext: Apache-2.0
#
# Stream objects reused: a stream that ends with nothing but the runtime holding its _Stream,
# its Filter and its views goes back to its FilterConfig (`_spare`), reset, and the next stream
# of that config takes it instead of allocating a _Stream, a Filter and views and freeing them
# again (about 1k instructions per request, docs/design.md "Stream objects reused").
#
# What makes it safe: nobody else can observe the objects. The checks below count references:
# the Filter held only by its _Stream, each view only by the _Stream, the _Stream only by the
# shim, its Filter and its views; no weak references; no pending work, calls, spans or threads
# waiting. The Filter's attributes are cleared (its __dict__), so the next stream's Filter starts
# as a new one does (its __init__, if the class has one, runs again). Classes whose instances
# could carry more than their __dict__ are never reused: __slots__ (a different basic size),
# __del__ (tp_finalize), their own __new__ (tp_new). Configs with `reload` are not either.
#
# THREAD: the worker (or main thread) holding the GIL of the config's interpreter.

from libc.string cimport memset

cdef extern from *:
    """
    static int pyext_filter_reusable(PyObject* cls, PyObject* base) {
        PyTypeObject* t = (PyTypeObject*)cls;
        PyTypeObject* b = (PyTypeObject*)base;
        return t->tp_basicsize == b->tp_basicsize && t->tp_itemsize == 0
            && t->tp_finalize == NULL && t->tp_new == b->tp_new && t->tp_del == NULL;
    }

    /* The prefix of CPython's shared-keys object (PyDictKeysObject, internal) as 3.11 and 3.12
       lay it out: what pyext_filter_clear_attrs reads of a class's attribute-name table. */
    typedef struct {
        Py_ssize_t dk_refcnt;
        uint8_t dk_log2_size, dk_log2_index_bytes, dk_kind;
        uint32_t dk_version;
        Py_ssize_t dk_usable, dk_nentries;
    } pyext_dict_keys_prefix;

    /* An object whose freeing runs no Python code (no __del__, weak reference callback or
       contents): str, bytes, int, float. */
    static inline int pyext_inert(PyObject* v) {
        PyTypeObject* t = Py_TYPE(v);
        return t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyLong_Type
            || t == &PyFloat_Type;
    }

    /* Empties inline attribute values (3.11 and 3.12: a values array indexed like the class's
       shared keys, the insertion-order count in the byte two before it) as a new object has
       them. The values are released after the array is empty (their __del__ may run). */
    static int pyext_clear_values(PyObject* o, PyObject** values) {
        uint8_t* order_size = (uint8_t*)values - 2;
        const pyext_dict_keys_prefix* keys =
            (const pyext_dict_keys_prefix*)((PyHeapTypeObject*)Py_TYPE(o))->ht_cached_keys;
        PyObject* old[32];
        Py_ssize_t n, i;
        if (*order_size == 0) return 0;
        if (keys == NULL || keys->dk_nentries < 0 || keys->dk_nentries > 32) return -1;
        n = keys->dk_nentries;
        for (i = 0; i < n; i++) {
            old[i] = values[i];
            values[i] = NULL;
        }
        *order_size = 0;
        int may_run_code = 0;
        for (i = 0; i < n; i++) {
            PyObject* v = old[i];
            if (v == NULL) continue;
            if (Py_REFCNT(v) == 1 && !pyext_inert(v)) may_run_code = 1;
            Py_DECREF(v);
        }
        return may_run_code ? 1 : 2;
    }

    /* A reusable Filter's instance attributes removed (reuse.pxi): 0 when it had none, 1 when
       they were removed and user code may have run (__del__ of a value), 2 when they were
       removed and freeing them ran none, -1 when this object's attributes are kept in a way
       this does not know (never reused then). */
    static int pyext_filter_clear_attrs(PyObject* o) {
        PyTypeObject* t = Py_TYPE(o);
        PyObject* dict;
        if (!(t->tp_flags & Py_TPFLAGS_MANAGED_DICT)) {
            if (t->tp_dictoffset == 0) return 0;    /* (__slots__ = () all the way down) */
            return -1;
        }
    #if PY_VERSION_HEX < 0x030C0000
        PyObject** values = ((PyObject***)o)[-4];
        if (values != NULL) return pyext_clear_values(o, values);
        dict = ((PyObject**)o)[-3];
    #elif PY_VERSION_HEX < 0x030D0000
        uintptr_t dorv = ((uintptr_t*)o)[-3];
        if (dorv & 1) return pyext_clear_values(o, (PyObject**)(dorv + 1));
        dict = (PyObject*)dorv;
    #else
        if (t->tp_flags & Py_TPFLAGS_INLINE_VALUES) return -1;
        dict = ((PyObject**)o)[-3];
    #endif
        if (dict == NULL || PyDict_GET_SIZE(dict) == 0) return 0;
        PyDict_Clear(dict);
        return 1;
    }
    """
    int pyext_filter_reusable(object cls, object base)
    int pyext_filter_clear_attrs(PyObject* o) noexcept
    Py_ssize_t _refcnt_p "Py_REFCNT"(PyObject* o)
    Py_ssize_t _pyext_refcnt "Py_REFCNT"(object o)

cdef enum:
    # Spare streams per FilterConfig (a graveyard flush returns up to 64 at once): the size
    # of FilterConfig._spare (config.pxd).
    _SPARE_MAX = 64
    # References to a _Stream that _recycle finds besides its views': the shim's (s.py), the
    # caller's local variable (pyext_on_destroy) and its Filter's (_rt).
    _STREAM_BASE_REFS = 3


cdef bint _class_reusable(object cls) except -1:
    return pyext_filter_reusable(cls, Filter) == 1


cdef inline int _held(PyObject* v, int* n) noexcept:
    """Counts `v` (a field of the _Stream, borrowed) in *n when it exists; 1 when someone
    besides the _Stream holds it too."""
    if v == <PyObject*>None:
        return 0
    n[0] += 1
    return _refcnt_p(v) != 1


cdef int _held_views(_Stream st) noexcept:
    """How many views (and other per-stream objects that point back at the stream) the _Stream
    holds; -1 when someone else holds one too, or a body view has memoryviews out."""
    cdef int n = 0
    if _held(<PyObject*>st._v_h0, &n) | _held(<PyObject*>st._v_h1, &n) \
            | _held(<PyObject*>st._v_h2, &n) | _held(<PyObject*>st._v_h3, &n) \
            | _held(<PyObject*>st._v_b0, &n) | _held(<PyObject*>st._v_b1, &n) \
            | _held(<PyObject*>st._callbacks, &n) | _held(<PyObject*>st._v_info, &n) \
            | _held(<PyObject*>st._v_meta, &n) | _held(<PyObject*>st._v_fs, &n) \
            | _held(<PyObject*>st._v_span, &n):
        return -1
    if st._v_b0 is not None and st._v_b0._exports != 0 \
            or st._v_b1 is not None and st._v_b1._exports != 0:
        return -1
    return n


cdef bint _recycle(_Stream st) noexcept:
    """At destroy (no on_destroy hook): keeps `st` with its Filter and views for the config's
    next stream when nothing else can reach them. False: nothing was changed that the normal
    path (_unbind, then reference counting) does not do anyway."""
    cdef FilterConfig fc = st._fc
    cdef Filter f = st._filter
    cdef int n, n_attrs
    if not fc._reuse or fc._n_spare >= _SPARE_MAX or f is None:
        return False
    if st._pend is not None or st._callouts or st._callout_queue or st._spans is not None \
            or st._settle_event is not None or st._init_error is not None \
            or st._hook_depth != 0 or type(f) is not fc.cls or f._test is not None:
        return False
    # (the local `f` is one more reference to the Filter)
    if _pyext_refcnt(f) != 2 or pyext_has_weakrefs(f) != 0:
        return False
    n = _held_views(st)
    if n < 0 or _pyext_refcnt(st) != _STREAM_BASE_REFS + n:
        return False
    n_attrs = pyext_filter_clear_attrs(<PyObject*>f)
    if n_attrs < 0:
        return False
    if n_attrs == 1:    # user code may have run (__del__ of a value): checked again
        if _pyext_refcnt(f) != 2 or pyext_has_weakrefs(f) != 0 or _held_views(st) != n \
                or _pyext_refcnt(st) != _STREAM_BASE_REFS + n \
                or pyext_filter_clear_attrs(<PyObject*>f) != 0:
            return False
    # Nothing but this runtime reaches st, f or the views: reset them for the next stream.
    if st._sched != NULL:
        abi.envoy_dynamic_module_callback_http_filter_scheduler_delete(st._sched)
        st._sched = NULL
    st._s = NULL
    st._fc = None           # (the pool holds the streams; they do not hold the config)
    st._tid = 0
    memset(&st._sides[0], 0, sizeof(_Side) * 2)
    st._closed = False
    st._ended = False
    st._run_side = SIDE_NONE
    st._run_kind = K_NONE
    st._early_status = -1
    if st._ctx is not None and (_BASE_CONTEXT_LEN != 0 or _refcnt_p(<PyObject*>st._ctx) != 1
                                or pyext_context_len(st._ctx) != 0):
        st._ctx = None      # (kept while it is empty like the base context, and only ours)
    # (each field set only when it is not None already: most streams never made them)
    if st._callouts is not None:
        st._callouts = None
    if st._callout_queue is not None:
        st._callout_queue = None
    if st._callbacks is not None:
        st._callbacks = None
    if st._v_info is not None:
        st._v_info = None
    if st._v_meta is not None:
        st._v_meta = None
    if st._v_fs is not None:
        st._v_fs = None
    if st._v_span is not None:
        st._v_span = None
    if st._route_rc is not None:
        st._route_rc = None
    st._route_rc_known = False
    if st._v_h0 is not None:
        st._v_h0._walk_epoch = 0
    if st._v_h1 is not None:
        st._v_h1._walk_epoch = 0
    if st._v_h2 is not None:
        st._v_h2._walk_epoch = 0
    if st._v_h3 is not None:
        st._v_h3._walk_epoch = 0
    if st._v_b0 is not None:
        st._v_b0._in_hook = False
        st._v_b0._skip = 0
    if st._v_b1 is not None:
        st._v_b1._in_hook = False
        st._v_b1._skip = 0
    _stats.live_streams -= 1
    _stats.live_filters -= 1
    Py_INCREF(st)
    fc._spare[fc._n_spare] = <PyObject*>st
    fc._n_spare += 1
    return True


cdef inline _Stream _take_spare(FilterConfig fc):
    """A recycled _Stream (its Filter in _filter), or None."""
    cdef _Stream st
    if fc._n_spare == 0:
        return None
    fc._n_spare -= 1
    st = <_Stream>fc._spare[fc._n_spare]    # (a new reference: the array's is given up below)
    Py_DECREF(st)
    _stats.live_filters += 1
    _stats.streams_reused += 1
    return st


cdef int _drop_spares(FilterConfig fc) noexcept:
    """The config is going: its spare streams' cycles (Filter <-> _Stream <-> views) cut,
    and no stream is kept from now on."""
    cdef _Stream st
    fc._reuse = False       # (a stream finalised later is not kept: _recycle)
    while fc._n_spare > 0:
        fc._n_spare -= 1
        st = <_Stream>fc._spare[fc._n_spare]
        Py_DECREF(st)       # (the array's reference; `st` holds one until the end)
        _stats.live_filters += 1    # (counted again: its __dealloc__ counts it off)
        st._s = NULL
        try:
            st._cut_views()
        except BaseException:
            pass            # (setting fields to None cannot fail)
        st._filter._rt = None
        st._filter = None
    return 0
