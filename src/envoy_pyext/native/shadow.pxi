# envoy-pyext: Apache-2.0
#
# _Shadow: what a stream's views read and write while one of its hooks is pending (a coroutine
# on the event-loop thread, or a thread that returned Status.RUNNING). Envoy's memory must only
# be touched on the stream's worker thread during a hook, so when a hook goes asynchronous the
# runtime COPIES, on the worker:
#   - every header map that exists (request/response headers and trailers), as (name, value)
#     byte pairs;
#   - each direction's body as Envoy holds it (in a data hook: buffered + the chunk received).
# Reads are served from the copies. Writes change the copies and are RECORDED in order; when the
# work finishes, the worker replays them into Envoy (headers in the order they were made, then
# each body that changed, then a local reply if one was asked for) before the stream resumes.

cdef class _Shadow:
    cdef list maps          # 4 entries (by header type): list of [name, value] bytes, or None
    cdef list ops           # (is_add/remove/set, htype, name, value) in call order
    cdef list bodies        # 2 entries (by side): bytearray
    cdef list body_base     # 2 entries: how many bytes of Envoy's buffer each copy stands for
    cdef bint changed[2]
    cdef object reply       # (status, [(name, value)], body, details) or None

    @staticmethod
    cdef _Shadow snapshot(Filter f, int data_side):
        """Copies the stream's state. `data_side` is the side whose data hook is running
        (its received chunk is part of the body) or SIDE_NONE."""
        cdef _Shadow sh = _Shadow.__new__(_Shadow)
        cdef HeaderMap h
        cdef Buffer b
        cdef int htype, side
        sh.maps = [None, None, None, None]
        for htype in range(4):
            h = f._headers(htype)
            if abi.envoy_dynamic_module_callback_http_get_headers_size(f._s.envoy_ptr, h._htype) \
                    or htype == HT_REQUEST_HEADERS:
                sh.maps[htype] = [list(kv) for kv in h._items_direct(True)]
        sh.ops = []
        sh.bodies = [None, None]
        sh.body_base = [0, 0]
        for side in range(2):
            b = f._body(side)
            b._in_hook = side == data_side
            try:
                data = b._read_direct()
            finally:
                b._in_hook = False
            sh.bodies[side] = bytearray(data)
            sh.body_base[side] = len(data)
            sh.changed[side] = False
        return sh

    # ---- headers ------------------------------------------------------------------------
    cdef list map(self, int htype):
        cdef list m = self.maps[htype]
        if m is None:
            raise EnvoyPyextError(f"{_HEADER_MAP_NAMES[htype]} do not exist (yet) on this stream")
        return m

    cdef list get_all(self, int htype, bytes key):
        m = self.maps[htype]
        if m is None:
            return []
        return [kv[1] for kv in m if kv[0] == key]

    cdef int set(self, int htype, bytes key, bytes value) except -1:
        cdef list m = self.map(htype)
        cdef Py_ssize_t i
        for i in range(len(m)):
            if m[i][0] == key:
                m[i][1] = value
                m[i + 1:] = [kv for kv in m[i + 1:] if kv[0] != key]
                break
        else:
            m.append([key, value])
        self.ops.append((0, htype, key, value))
        return 0

    cdef int add(self, int htype, bytes key, bytes value) except -1:
        self.map(htype).append([key, value])
        self.ops.append((1, htype, key, value))
        return 0

    cdef int remove(self, int htype, bytes key) except -1:
        cdef list m = self.map(htype)
        m[:] = [kv for kv in m if kv[0] != key]
        self.ops.append((2, htype, key, None))
        return 0

    # ---- bodies -------------------------------------------------------------------------
    cdef bytearray body(self, int side):
        return <bytearray>self.bodies[side]

    cdef void touch(self, int side) noexcept:
        self.changed[side] = True

    # ---- back into Envoy ----------------------------------------------------------------
    cdef int replay(self, Filter f) except -1:
        """On the worker, with f._shadow already cleared: writes the recorded changes."""
        cdef HeaderMap h
        cdef Buffer b
        cdef int side
        for kind, htype, key, value in self.ops:
            h = f._headers(htype)
            if kind == 2:
                h._remove(key)
            else:
                h._write(key, value, kind == 1)
        for side in range(2):
            if self.changed[side]:
                b = f._body(side)
                b._replace_prefix(self.body_base[side], bytes(self.bodies[side]))
        if self.reply is not None:
            status, pairs, body, details = self.reply
            f._send_reply_direct(status, pairs, body, details)
        return 0
