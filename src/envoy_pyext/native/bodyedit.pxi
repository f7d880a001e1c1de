# envoy-pyext: Apache-2.0
#
# In-place body edits: Buffer.translate(table), Buffer.upper(), Buffer.lower(). The bytes are
# changed where Envoy holds them, slice by slice, with no copy out and no drain/append: the
# length stays, so nothing is re-framed. Envoy's slices are writable in place (the ABI hands out
# their addresses for reading and writing alike); the runtime touches them only on the worker,
# inside the call, after the same checks as every Buffer write (alive, right thread or the
# pending hook's shadow, _check_body_write). While a hook is pending the edit goes to the shadow
# copy and is written back with the other body writes (shadow.pxi).
#
# Kernels: upper/lower is a branch-free ASCII loop in fixed 32-byte blocks (gcc -O2 turns the
# block into SSE2: well under one instruction per byte); translate is a 256-byte table lookup,
# unrolled by four.

cdef extern from *:
    """
    static inline unsigned char pyext_case_flip(unsigned char c, unsigned char first) {
        return (unsigned char)(c ^ (((unsigned char)(c - first) < 26u) << 5));
    }
    /* ASCII letters from `first` ('a': upper-case, 'A': lower-case) get bit 0x20 flipped. */
    static void pyext_ascii_case(unsigned char* p, size_t n, unsigned char first) {
        size_t i = 0;
        int j;
        for (; i + 32 <= n; i += 32)
            for (j = 0; j < 32; j++)
                p[i + j] = pyext_case_flip(p[i + j], first);
        for (; i < n; i++)
            p[i] = pyext_case_flip(p[i], first);
    }
    static void pyext_translate(unsigned char* p, size_t n, const unsigned char* table) {
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            unsigned char a = table[p[i]], b = table[p[i + 1]];
            unsigned char c = table[p[i + 2]], d = table[p[i + 3]];
            p[i] = a; p[i + 1] = b; p[i + 2] = c; p[i + 3] = d;
        }
        for (; i < n; i++)
            p[i] = table[p[i]];
    }
    """
    void pyext_ascii_case(unsigned char* p, size_t n, unsigned char first) nogil
    void pyext_translate(unsigned char* p, size_t n, const unsigned char* table) nogil


cdef int _edit_span(char* p, size_t n, void* ctx) except -1:
    """_BodyEdit's step over one slice (Buffer._walk), after the first `skip` bytes."""
    cdef _BodyEdit* e = <_BodyEdit*>ctx
    if e.skip >= n:
        e.skip -= n
        return 0
    p += e.skip
    n -= e.skip
    e.skip = 0
    if e.op == _EDIT_TRANSLATE:
        pyext_translate(<unsigned char*>p, n, e.table)
    else:
        pyext_ascii_case(<unsigned char*>p, n, 97 if e.op == _EDIT_UPPER else 65)
    return 0


cdef int _body_edit(Buffer b, int op, object table) except -1:
    """Buffer.translate/upper/lower: checks, then the edit in Envoy's slices or the shadow."""
    cdef Py_buffer tview
    cdef _BodyEdit e
    cdef _Shadow sh
    cdef bytearray body
    e.op = op
    e.table = NULL
    if op == _EDIT_TRANSLATE and table is not None:
        PyObject_GetBuffer(table, &tview, PyBUF_SIMPLE)   # TypeError: not bytes-like
        if tview.len != 256:
            PyBuffer_Release(&tview)
            raise ValueError("translation table must be 256 characters long")
        e.table = <const unsigned char*>tview.buf
    try:
        sh = _access(b._st)
        _check_body_write(b._st, b._side)
        if op == _EDIT_TRANSLATE and e.table == NULL:
            return 0        # table None: every byte maps to itself (as bytes.translate)
        if sh is not None:
            body = sh.bodies[b._side]
            e.skip = 0
            _edit_span(PyByteArray_AS_STRING(body), <size_t>len(body), &e)
            sh.changed[b._side] = True
        else:
            e.skip = <size_t>b._skip
            b._walk(_edit_span, &e)
    finally:
        if e.table != NULL:
            PyBuffer_Release(&tview)
    return 0
