# envoy-pyext: Apache-2.0
#
# Metadata (self.metadata): read the stream's dynamic metadata and the route's, cluster's and
# host's metadata; write the stream's dynamic metadata (what later filters, the router and the
# access log see: %DYNAMIC_METADATA(ns:key)%).
#
# Envoy 1.40's getters each read one type and log an error when the value has another, so the
# runtime remembers each key's type once it has read it (_KINDS) and tries that first; `type=`
# reads without guessing. Nested values are written as a google.protobuf.Struct, encoded here
# (no protobuf dependency).

import struct as _struct

ctypedef abi.envoy_dynamic_module_type_metadata_source _MetaSource

cdef dict _SOURCES = {"dynamic": 0, "route": 1, "cluster": 2, "host": 3, "host_locality": 4}

cdef enum:  # what a metadata value was read as
    _MK_STR = 0
    _MK_NUM = 1
    _MK_BOOL = 2
    _MK_LIST = 3
    _MK_COUNT = 4

cdef dict _KINDS = {}               # (source, namespace, key) -> the _MK_* it was read as
cdef dict _LIST_KINDS = {}          # (source, namespace, key) -> [_MK_* of each element]
cdef Py_ssize_t _KINDS_MAX = 4096
cdef dict _TYPE_KINDS = {str: _MK_STR, float: _MK_NUM, int: _MK_NUM, bool: _MK_BOOL,
                         list: _MK_LIST}


cdef void* _ctx_ptr(_Stream st, str what) except NULL:
    """Envoy's stream pointer for a read that must happen on the worker."""
    if _access(st) is not None:
        raise EnvoyPyextError(
            f"{what} can be read on the Envoy worker only (a sync hook, on_log, or an async "
            f"hook before it waits on something); read it there and keep the value")
    return st._s.envoy_ptr


cdef int _source_of(object source) except -1:
    s = _SOURCES.get(source)
    if s is None:
        raise ValueError(f"unknown metadata source {source!r}: one of {', '.join(_SOURCES)}")
    return s


cdef bytes _utf8(object s, str what):
    if not isinstance(s, str):
        raise TypeError(f"the metadata {what} must be a str, not {type(s).__name__}")
    return (<str>s).encode("utf-8", "surrogateescape")


cdef object _read_scalar(void* ep, int src, bytes ns, bytes key, int kind, bint in_list,
                         size_t index):
    """The value as `kind`, or a _MISS when it is not of that kind (Envoy logged it)."""
    cdef abi.envoy_dynamic_module_type_envoy_buffer out
    cdef double d = 0
    cdef cbool b = False
    cdef _MetaSource s = <_MetaSource>src
    out.ptr = NULL
    out.length = 0
    if kind == _MK_STR:
        if (abi.envoy_dynamic_module_callback_http_get_metadata_list_string(
                ep, s, _mbuf(ns), _mbuf(key), index, &out) if in_list else
                abi.envoy_dynamic_module_callback_http_get_metadata_string(
                    ep, s, _mbuf(ns), _mbuf(key), &out)):
            return _envoy_str(&out)
    elif kind == _MK_NUM:
        if (abi.envoy_dynamic_module_callback_http_get_metadata_list_number(
                ep, s, _mbuf(ns), _mbuf(key), index, &d) if in_list else
                abi.envoy_dynamic_module_callback_http_get_metadata_number(
                    ep, s, _mbuf(ns), _mbuf(key), &d)):
            return d
    elif kind == _MK_BOOL:
        if (abi.envoy_dynamic_module_callback_http_get_metadata_list_bool(
                ep, s, _mbuf(ns), _mbuf(key), index, &b) if in_list else
                abi.envoy_dynamic_module_callback_http_get_metadata_bool(
                    ep, s, _mbuf(ns), _mbuf(key), &b)):
            return b
    return _MISS


cdef object _read_list(void* ep, int src, bytes ns, bytes key):
    cdef size_t n = 0, i
    cdef int k, guess = _MK_STR
    if not abi.envoy_dynamic_module_callback_http_get_metadata_list_size(
            ep, <_MetaSource>src, _mbuf(ns), _mbuf(key), &n):
        return _MISS
    memo = (src, ns, key)
    known = _LIST_KINDS.get(memo)
    if known is not None and len(<list>known) != <Py_ssize_t>n:
        known = None
    kinds = []
    items = []
    for i in range(n):
        if known is not None:
            guess = known[i]
        v = _MISS
        for k in (guess,) + tuple([x for x in (_MK_STR, _MK_NUM, _MK_BOOL) if x != guess]):
            if k < 0:
                continue
            v = _read_scalar(ep, src, ns, key, k, True, i)
            if v is not _MISS:
                guess = k
                break
        if v is _MISS:  # a nested struct or list: not readable through the ABI
            guess = -1
            v = None
        kinds.append(guess)
        items.append(v)
    if len(_LIST_KINDS) < _KINDS_MAX:
        _LIST_KINDS[memo] = kinds
    return items


cdef list _element_kinds(object items):
    return [_MK_BOOL if x is True or x is False else _MK_STR if isinstance(x, str)
            else _MK_NUM if isinstance(x, (int, float)) else -1 for x in items]


cdef object _MISS = object()


cdef object _read_value(void* ep, int src, bytes ns, bytes key, object type_):
    cdef int k
    memo = (src, ns, key)
    if type_ is not None:
        k = _TYPE_KINDS.get(type_, -1)
        if k < 0:
            raise ValueError(f"type must be str, float, bool or list, not {type_!r}")
        order = (k,)
    else:
        known = _KINDS.get(memo, _MK_STR)   # the type it had last time first: no guessing
        order = (known,) + tuple([x for x in (_MK_STR, _MK_NUM, _MK_BOOL, _MK_LIST)
                                  if x != known])
    for k in order:
        v = _read_list(ep, src, ns, key) if k == _MK_LIST else \
            _read_scalar(ep, src, ns, key, k, False, 0)
        if v is not _MISS:
            if type_ is None and k != known and len(_KINDS) < _KINDS_MAX:
                _KINDS[memo] = k
            if type_ is int:
                return int(v)
            return v
    return _MISS


cdef list _names(void* ep, int src, object ns):
    """The namespaces of `src` (ns None) or the keys of namespace `ns`."""
    cdef size_t n, i
    cdef abi.envoy_dynamic_module_type_envoy_buffer* arr
    cdef bytes nsb = None if ns is None else _utf8(ns, "namespace")
    if ns is None:
        n = abi.envoy_dynamic_module_callback_http_get_metadata_namespaces_count(
            ep, <_MetaSource>src)
    else:
        n = abi.envoy_dynamic_module_callback_http_get_metadata_keys_count(
            ep, <_MetaSource>src, _mbuf(nsb))
    if n == 0:
        return []
    arr = <abi.envoy_dynamic_module_type_envoy_buffer*>calloc(
        n, sizeof(abi.envoy_dynamic_module_type_envoy_buffer))
    if arr == NULL:
        raise MemoryError()
    try:
        if ns is None:
            ok = abi.envoy_dynamic_module_callback_http_get_metadata_namespaces(
                ep, <_MetaSource>src, arr)
        else:
            ok = abi.envoy_dynamic_module_callback_http_get_metadata_keys(
                ep, <_MetaSource>src, _mbuf(nsb), arr)
        if not ok:
            return []
        return [_envoy_str(&arr[i]) for i in range(n)]
    finally:
        free(arr)


# ---- google.protobuf.Struct, encoded by hand --------------------------------------------------
cdef bytes _pb_varint(size_t n):
    cdef bytearray out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


cdef bytes _pb_len(int tag, bytes body):
    return bytes((tag,)) + _pb_varint(len(body)) + body


cdef bytes _pb_value(object v, int depth):
    """A google.protobuf.Value."""
    if depth > 32:
        raise ValueError("metadata value nested too deeply (more than 32 levels)")
    if v is None:
        return b"\x08\x00"                                  # null_value
    if v is True or v is False:
        return b"\x20\x01" if v else b"\x20\x00"            # bool_value
    if isinstance(v, (int, float)):
        return b"\x11" + _struct.pack("<d", float(v))       # number_value
    if isinstance(v, str):
        return _pb_len(0x1A, (<str>v).encode("utf-8", "surrogateescape"))  # string_value
    if isinstance(v, dict):
        return _pb_len(0x2A, _pb_struct(v, depth + 1))     # struct_value
    if isinstance(v, (list, tuple)):
        return _pb_len(0x32, b"".join([_pb_len(0x0A, _pb_value(x, depth + 1)) for x in v]))
    raise TypeError(f"a metadata value is str, int, float, bool, None, a list or a dict of "
                    f"them, not {type(v).__name__}")


cdef bytes _pb_struct(dict d, int depth):
    """A google.protobuf.Struct: map<string, Value> fields = 1."""
    parts = []
    for k, v in d.items():
        entry = _pb_len(0x0A, _utf8(k, "key")) + _pb_len(0x12, _pb_value(v, depth))
        parts.append(_pb_len(0x0A, entry))
    return b"".join(parts)


def _encode_struct(dict d):
    """The google.protobuf.Struct encoding of `d` (for the unit tests)."""
    return _pb_struct(d, 0)


# ---- writes -------------------------------------------------------------------------------
def _meta_write(_Stream st, bytes ns, bytes key, object value, int kind):
    """Writes one key of the stream's dynamic metadata (worker; also the replay of a write a
    pending hook made). `kind`: what it will read back as (-1: not readable, a dict or None)."""
    cdef void* ep = st._s.envoy_ptr
    if type(value) is bytes:    # already a Struct: {key: value}
        abi.envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(
            ep, _mbuf(ns), _mbuf(value))
    elif value is True or value is False:
        abi.envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(
            ep, _mbuf(ns), _mbuf(key), <cbool>(value is True))
    elif isinstance(value, float):
        abi.envoy_dynamic_module_callback_http_set_dynamic_metadata_number(
            ep, _mbuf(ns), _mbuf(key), value)
    else:
        abi.envoy_dynamic_module_callback_http_set_dynamic_metadata_string(
            ep, _mbuf(ns), _mbuf(key), _mbuf(value.encode("utf-8", "surrogateescape")))
    if kind < 0:
        _KINDS.pop((0, ns, key), None)
    elif len(_KINDS) < _KINDS_MAX:
        _KINDS[(0, ns, key)] = kind     # no guessing when it is read back
    return None


def _meta_write_list(_Stream st, bytes ns, bytes key, bytes value, list kinds):
    _meta_write(st, ns, key, value, _MK_LIST)
    if len(_LIST_KINDS) < _KINDS_MAX:
        _LIST_KINDS[(0, ns, key)] = kinds


@cython.binding(False)   # C method descriptors: CPython specialises their calls (headers.pxi)
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")
cdef class Metadata:
    """The stream's metadata: ``self.metadata``. ``get`` reads the stream's dynamic metadata
    or, with ``source``, the route's ("route"), the upstream cluster's ("cluster"), the
    upstream host's ("host") or its locality's ("host_locality"); ``set`` writes the stream's
    dynamic metadata. Reads work on the Envoy worker; writes also from a pending hook (applied
    when it resumes)."""

    @staticmethod
    cdef Metadata new(_Stream st):
        cdef Metadata m = Metadata.__new__(Metadata)
        m._st = st
        return m

    def get(self, namespace, key, default=None, source="dynamic", type=None):
        """The value of ``key`` in ``namespace``: str, float, bool or a list of them; ``default``
        when there is none. ``type`` (str, float, int, bool or list) reads that type only."""
        cdef int src = _source_of(source)
        cdef bytes ns = _utf8(namespace, "namespace"), k = _utf8(key, "key")
        cdef void* ep = _ctx_ptr(self._st, "self.metadata")
        v = _read_value(ep, src, ns, k, type)
        return default if v is _MISS else v

    def set(self, namespace, key, value):
        """Sets ``key`` in the stream's dynamic metadata ``namespace`` to a str, int, float,
        bool, None, or a list/dict of them (written as a google.protobuf.Struct)."""
        cdef bytes ns = _utf8(namespace, "namespace"), k = _utf8(key, "key")
        cdef int kind
        if value is True or value is False:
            kind = _MK_BOOL
        elif isinstance(value, str):
            kind = _MK_STR
        elif isinstance(value, (int, float)):
            value = float(value)
            kind = _MK_NUM
        elif isinstance(value, (list, tuple)):
            sh = _access(self._st)
            kinds = _element_kinds(value)
            value = _pb_struct({key: value}, 0)
            if sh is None:
                _meta_write_list(self._st, ns, k, value, kinds)
            else:
                (<_Shadow>sh).later.append((_meta_write_list, (ns, k, value, kinds)))
            return
        else:   # None, dict (and the error for anything else)
            kind = -1
            value = _pb_struct({key: value}, 0)
        sh = _access(self._st)
        if sh is None:
            _meta_write(self._st, ns, k, value, kind)
        else:
            (<_Shadow>sh).later.append((_meta_write, (ns, k, value, kind)))

    def namespaces(self, source="dynamic"):
        """The namespaces of ``source``'s metadata."""
        cdef int src = _source_of(source)
        return _names(_ctx_ptr(self._st, "self.metadata"), src, None)

    def keys(self, namespace, source="dynamic"):
        """The keys of ``namespace`` in ``source``'s metadata."""
        cdef int src = _source_of(source)
        return _names(_ctx_ptr(self._st, "self.metadata"), src, namespace)

    def __repr__(self):
        return "<Metadata>"
