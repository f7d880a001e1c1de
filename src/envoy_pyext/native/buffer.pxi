# envoy-pyext: Apache-2.0
#
# Buffer: a view onto one direction's body as Envoy holds it. Inside decode_data/encode_data it
# is what Envoy has buffered for this filter followed by the chunk just received; elsewhere it is
# the buffered part only. Reads copy (bytes(buf)) unless you ask for a memoryview, which points
# straight into Envoy's memory when the body is one slice (zero-copy) and is valid only until
# the hook returns. Writes go to Envoy immediately. While a hook of the stream is pending
# (async), reads and writes go to the stream's _Shadow copy instead (see shadow.pxi).

cdef enum:
    _STACK_SLICES = 16      # Envoy slices read without a heap array (64 KiB is 4-5 of them)


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class Buffer:
    """The request or response body of one stream."""

    def __init__(self):
        raise TypeError("Buffer objects are created by envoy-pyext, not by user code")

    @staticmethod
    cdef Buffer new(_Stream st, int side):
        cdef Buffer b = Buffer.__new__(Buffer)
        b._st = st
        b._side = side
        return b

    # ---- direct access to Envoy (worker thread, inside a hook or on_scheduled) ----------

    # The body kinds that make up this view, in byte order; returns how many (1..2).
    cdef int _kinds(self, void* ep, abi.envoy_dynamic_module_type_http_body_type* kinds) except -1:
        cdef abi.envoy_dynamic_module_type_http_body_type received, buffered
        cdef bint replay
        if self._side == SIDE_REQUEST:
            received = abi.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody
            buffered = abi.envoy_dynamic_module_type_http_body_type_BufferedRequestBody
        else:
            received = abi.envoy_dynamic_module_type_http_body_type_ReceivedResponseBody
            buffered = abi.envoy_dynamic_module_type_http_body_type_BufferedResponseBody
        if not self._in_hook:
            kinds[0] = buffered
            return 1
        if self._side == SIDE_REQUEST:
            replay = abi.envoy_dynamic_module_callback_http_received_buffered_request_body(ep)
        else:
            replay = abi.envoy_dynamic_module_callback_http_received_buffered_response_body(ep)
        if replay:  # the received chunk IS the buffered body released by an earlier filter
            kinds[0] = received
            return 1
        kinds[0] = buffered
        kinds[1] = received
        return 2

    cdef Py_ssize_t _size_direct(self) except -1:
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_http_body_type kinds[2]
        cdef int n = self._kinds(ep, kinds), i
        cdef Py_ssize_t total = 0
        for i in range(n):
            total += abi.envoy_dynamic_module_callback_http_get_body_size(ep, kinds[i])
        return total

    cdef list _slices(self):
        # OWNERSHIP: (address, length) pairs into Envoy's buffer, valid until the hook returns.
        cdef list out = []
        self._walk(_collect_step, <void*>out)
        return out

    cdef int _walk(self, _SliceStep step, void* ctx) except -1:
        """Calls `step` with each of Envoy's slices of the view in byte order (no list, no heap
        array up to _STACK_SLICES slices)."""
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_http_body_type kinds[2]
        cdef abi.envoy_dynamic_module_type_envoy_buffer stack[_STACK_SLICES]
        cdef abi.envoy_dynamic_module_type_envoy_buffer* arr
        cdef int n = self._kinds(ep, kinds), i
        cdef size_t count, j
        for i in range(n):
            count = abi.envoy_dynamic_module_callback_http_get_body_chunks_size(ep, kinds[i])
            if count == 0:
                continue
            arr = stack
            if count > _STACK_SLICES:
                arr = <abi.envoy_dynamic_module_type_envoy_buffer*>malloc(
                    count * sizeof(abi.envoy_dynamic_module_type_envoy_buffer))
                if arr == NULL:
                    raise MemoryError()
            try:
                if abi.envoy_dynamic_module_callback_http_get_body_chunks(ep, kinds[i], arr):
                    for j in range(count):
                        if arr[j].length:
                            # Envoy's slices are writable (the Rust SDK: EnvoyMutBuffer)
                            step(<char*>arr[j].ptr, arr[j].length, ctx)
            finally:
                if arr != stack:
                    free(arr)
        return 0

    cdef Py_ssize_t _copy_direct(self, char* dst, Py_ssize_t cap) except -1:
        """Copies the body into `dst` (room for `cap` bytes), slice by slice, without an
        intermediate list; returns the bytes copied."""
        cdef _CopyInto c
        c.dst = dst
        c.cap = cap
        c.off = 0
        self._walk(_copy_step, &c)
        return c.off

    cdef bytes _read_direct(self):
        # One copy: Envoy's slices straight into the new bytes object.
        cdef Py_ssize_t total = self._size_direct()
        cdef bytes result = PyBytes_FromStringAndSize(NULL, total)
        cdef Py_ssize_t got = self._copy_direct(PyBytes_AS_STRING(result), total)
        if got != total:
            return result[:got]
        return result

    cdef int _drain_direct(self, Py_ssize_t n) except -1:
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_http_body_type kinds[2]
        cdef int k = self._kinds(ep, kinds), i
        cdef Py_ssize_t size, take
        for i in range(k):
            if n <= 0:
                break
            size = abi.envoy_dynamic_module_callback_http_get_body_size(ep, kinds[i])
            take = n if n < size else size
            if take > 0:
                abi.envoy_dynamic_module_callback_http_drain_body(ep, kinds[i], take)
                n -= take
        return 0

    cdef int _append_direct(self, object data) except -1:
        """Appends `data` (bytes, or any object with the buffer protocol): Envoy copies it
        once, from the object's own memory."""
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_http_body_type kinds[2]
        cdef abi.envoy_dynamic_module_type_module_buffer mb
        cdef Py_buffer view
        cdef bint ok
        if type(data) is bytes:
            if PyBytes_GET_SIZE(data) == 0:
                return 0
            ok = abi.envoy_dynamic_module_callback_http_append_body(
                ep, kinds[self._kinds(ep, kinds) - 1], _mbuf(<bytes>data))
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                if view.len == 0:
                    return 0
                mb.ptr = <char*>view.buf
                mb.length = <size_t>view.len
                ok = abi.envoy_dynamic_module_callback_http_append_body(
                    ep, kinds[self._kinds(ep, kinds) - 1], mb)
            finally:
                PyBuffer_Release(&view)
        if not ok:
            raise EnvoyPyextError(
                "Envoy has no body to write to here (outside decode_data/encode_data a body "
                "exists only once Envoy buffered it, e.g. after STOP_AND_BUFFER)")
        return 0

    cdef int _replace_range(self, Py_ssize_t start, Py_ssize_t length, object data) except -1:
        """Replaces `length` bytes of Envoy's body from `start` with `data`, keeping the rest."""
        cdef bytes current = self._read_direct()
        self._drain_direct(PyBytes_GET_SIZE(current))
        self._append_direct(current[:start] + bytes(data) + current[start + length:])
        return 0

    # ---- the view: shadow, skip, or direct -----------------------------------------------

    cdef Py_ssize_t _size(self) except -1:
        cdef _Shadow sh = _access(self._st)
        if sh is not None:
            return len(sh.bodies[self._side])
        return self._size_direct() - self._skip

    cdef bytes _read(self):
        cdef _Shadow sh = _access(self._st)
        if sh is not None:
            return bytes(sh.bodies[self._side])
        if self._skip:
            return self._read_direct()[self._skip:]
        return self._read_direct()

    cdef int _set(self, object data) except -1:
        cdef _Shadow sh = _access(self._st)
        if _check_body_write(self._st, self._side):
            _check_same_length(self._side, _nbytes(data) - self._size())
        if sh is not None:
            sh.bodies[self._side][:] = data
            sh.changed[self._side] = True
        elif self._skip:
            self._replace_range(self._skip, self._size_direct() - self._skip, data)
        else:
            self._drain_direct(self._size_direct())
            self._append_direct(data)
        return 0

    cdef int _drain(self, Py_ssize_t n) except -1:
        cdef _Shadow sh = _access(self._st)
        if _check_body_write(self._st, self._side):
            _check_same_length(self._side, -n)
        if sh is not None:
            del sh.bodies[self._side][:n]
            sh.changed[self._side] = True
        elif self._skip:
            self._replace_range(self._skip, n, b"")
        else:
            self._drain_direct(n)
        return 0

    cdef int _append(self, object data) except -1:
        cdef _Shadow sh = _access(self._st)
        if _check_body_write(self._st, self._side):
            _check_same_length(self._side, _nbytes(data))
        if sh is not None:
            sh.bodies[self._side].extend(data)
            sh.changed[self._side] = True
        else:
            self._append_direct(data)
        return 0

    ### Public API ###

    def __len__(self):
        return self._size()

    def __bytes__(self):
        return self._read()

    def to_bytes(self):
        """A copy of the whole body."""
        return self._read()

    def to_bytearray(self):
        """A copy of the whole body as a ``bytearray``, to edit in place and ``set()`` back
        (one copy each way)."""
        cdef _Shadow sh = _access(self._st)
        cdef Py_ssize_t total
        cdef bytearray out
        if sh is not None or self._skip:
            return bytearray(self._read())
        total = self._size_direct()
        out = PyByteArray_FromStringAndSize(NULL, total)
        if total:
            del out[self._copy_direct(PyByteArray_AS_STRING(out), total):]
        return out

    def set(self, data):
        """Replaces the body with ``data`` (bytes-like or str, UTF-8)."""
        self._set(self._own(data))

    def append(self, data):
        """Adds ``data`` at the end of the body."""
        self._append(self._own(data))

    cdef object _own(self, object data):
        """`data` as the writes take it: bytes, bytearray or another buffer object as it is
        (Envoy copies it once), str encoded. A view that may point into this body's own memory
        (a memoryview of this Buffer, or anything made from one) is copied first: the write
        drains that memory before it appends."""
        cdef type t = type(data)
        if t is bytes or t is bytearray:
            return data
        if t is str:
            return (<str>data).encode("utf-8")
        if isinstance(data, Buffer):
            return bytes(data)
        if not PyObject_CheckBuffer(data):
            raise TypeError(f"body data must be bytes-like or str, not {type(data).__name__}")
        if self._exports or t is not memoryview or not (<memoryview>data).c_contiguous:
            return bytes(data)
        return data

    def prepend(self, data):
        """Adds ``data`` at the start of the body."""
        self._set(_as_bytes(data) + self._read())

    def drain(self, Py_ssize_t n):
        """Removes the first ``n`` bytes; a negative ``n``, or one larger than the body,
        removes everything."""
        cdef Py_ssize_t size = self._size()
        self._drain(size if n < 0 or n > size else n)

    def clear(self):
        """Removes the whole body."""
        self._set(b"")

    def translate(self, table):
        """Maps every byte of the body through ``table`` (256 bytes, as ``bytes.translate``;
        None changes nothing), in place where Envoy holds it: no copy, same length."""
        _body_edit(self, _EDIT_TRANSLATE, table)

    def upper(self):
        """Upper-cases the ASCII letters of the body in place (as ``bytes.upper``)."""
        _body_edit(self, _EDIT_UPPER, None)

    def lower(self):
        """Lower-cases the ASCII letters of the body in place (as ``bytes.lower``)."""
        _body_edit(self, _EDIT_LOWER, None)

    def __getbuffer__(self, Py_buffer* view, int flags):
        # OWNERSHIP: a single slice is exposed in place (Envoy's memory, valid until the hook
        # returns); anything else is a copy owned by the view itself (view.internal), released
        # with it: several views at once each keep their own copy alive.
        cdef _Shadow sh
        cdef list slices
        cdef size_t ptr, length
        cdef bytes copy
        if flags & PyBUF_WRITABLE:
            raise BufferError("Buffer views are read-only; use set()/append()/drain()")
        if self._st is None and type(self) is not Buffer:
            copy = bytes(self.to_bytes())   # envoy_pyext.testing's in-memory body
        else:
            sh = _access(self._st)
            if sh is None and not self._skip:
                slices = self._slices()
                if len(slices) == 1:
                    ptr, length = slices[0]
                    PyBuffer_FillInfo(view, self, <void*>ptr, length, 1, flags)
                    view.internal = NULL
                    self._exports += 1
                    return
            copy = self._read()
        PyBuffer_FillInfo(view, self, PyBytes_AS_STRING(copy), PyBytes_GET_SIZE(copy), 1, flags)
        Py_INCREF(copy)
        view.internal = <void*>copy
        self._exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self._exports -= 1
        if view.internal != NULL:
            Py_DECREF(<object>view.internal)
            view.internal = NULL

    def __repr__(self):
        if self._st is None or self._st._s == NULL:
            return "<Buffer (stream destroyed)>"
        side = "request" if self._side == SIDE_REQUEST else "response"
        return f"<Buffer {side} {len(self)} bytes>"


cdef int _collect_step(char* ptr, size_t length, void* ctx) except -1:
    (<list>ctx).append((<size_t>ptr, length))
    return 0


cdef int _copy_step(char* ptr, size_t length, void* ctx) except -1:
    cdef _CopyInto* c = <_CopyInto*>ctx
    if <Py_ssize_t>length > c.cap - c.off:
        raise EnvoyPyextError("Envoy's body grew while it was read")
    memcpy(c.dst + c.off, ptr, length)
    c.off += length
    return 0


cdef bytes _as_bytes(object data):
    if isinstance(data, bytes):
        return <bytes>data
    if isinstance(data, str):
        return (<str>data).encode("utf-8")
    if isinstance(data, Buffer) or PyObject_CheckBuffer(data):
        return bytes(data)
    raise TypeError(f"body data must be bytes-like or str, not {type(data).__name__}")


cdef Py_ssize_t _nbytes(object data) except -1:
    """The length in bytes of what Buffer._own returned (a memoryview may have wider items)."""
    if type(data) is memoryview:
        return (<memoryview>data).nbytes
    return len(data)
