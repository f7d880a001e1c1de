# envoy-pyext: Apache-2.0
#
# _Shadow: what a stream's views read and write while one of its hooks is pending (a coroutine
# on the event-loop thread, or a thread after Status.RUNNING). Envoy's memory is touched only on
# the stream's worker, so when a hook leaves it the runtime COPIES, on the worker:
#   - every header map that exists, as [name, value] byte pairs;
#   - each direction's body as the hook sees it (in a data hook: what Envoy holds plus the chunk
#     received, less what the hook already saw).
# Reads are served from the copies. Writes change the copies and are RECORDED in order; when the
# work is done, the worker replays them into Envoy (headers in call order, then each body that
# changed, then a local reply if one was asked for) before the stream goes on.


cdef class _Shadow:

    @staticmethod
    cdef _Shadow snapshot(_Stream st, int data_side):
        """Copies the stream's state. `data_side` is the direction whose data hook is running
        (its received chunk is part of the body), or SIDE_NONE."""
        cdef _Shadow sh = _Shadow.__new__(_Shadow)
        cdef HeaderMap h
        cdef Buffer b
        cdef int htype, side
        cdef bytes data
        sh.maps = [None, None, None, None]
        for htype in range(4):
            h = st._headers(htype)
            if abi.envoy_dynamic_module_callback_http_get_headers_size(st._s.envoy_ptr, h._htype) \
                    or htype == HT_REQUEST_HEADERS:
                sh.maps[htype] = [list(kv) for kv in h._items_direct(True)]
        sh.ops = []
        sh.bodies = [None, None]
        for side in range(2):
            b = st._body(side)
            saved = b._in_hook
            b._in_hook = side == data_side
            try:
                data = b._read_direct()
            finally:
                b._in_hook = saved
            skip = b._skip if side == data_side else 0
            sh.bodies[side] = bytearray(data[skip:])
            sh.body_skip[side] = skip
            sh.body_base[side] = len(data) - skip
            sh.changed[side] = False
        sh.info = _info_snapshot(st)
        sh.later = []
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
        # As Envoy's set: every value of the key removed, the new one appended (same order
        # whether the hook runs inline on the worker or pending on a shadow copy).
        cdef list m = self.map(htype)
        m[:] = [kv for kv in m if kv[0] != key]
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

    # ---- back into Envoy ----------------------------------------------------------------
    cdef int replay(self, _Stream st) except -1:
        """On the worker, once the pending hook is over: writes the recorded changes."""
        cdef HeaderMap h
        cdef int side
        for kind, htype, key, value in self.ops:
            h = st._headers(htype)
            if kind == 2:
                h._remove(key)
            else:
                h._write(key, value, kind == 1)
        for fn, args in self.later:     # metadata, filter state (metadata.pxi, filterstate.pxi)
            fn(st, *args)
        for side in range(2):
            if self.changed[side]:
                st._body(side)._replace_range(self.body_skip[side], self.body_base[side],
                                              bytes(self.bodies[side]))
        if self.reply is not None:
            status, pairs, body, details = self.reply
            _send_reply_direct(st, status, pairs, body, details)
        return 0
