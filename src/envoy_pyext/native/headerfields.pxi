# envoy-pyext: Apache-2.0
#
# Header names and values on their way to and from Envoy (for HeaderMap, headers.pxi, and every
# other place that hands Envoy header pairs): the checks (an HTTP token for a name; no control
# characters in a value), the caches of checked and lower-cased names, value decoding, and the
# module-buffer helper.

from cpython.ref cimport Py_XDECREF
from cpython.unicode cimport (
    PyUnicode_1BYTE_DATA, PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_New,
)

cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object o)


# RFC 9110 token characters (tchar), indexed by byte value.
cdef bint _TCHAR[256]
for _c in range(256):
    _TCHAR[_c] = (chr(_c).isascii() and chr(_c).isalnum()) or chr(_c) in "!#$%&'*+-.^_`|~"


# name (as given) -> validated lower-case bytes. Filters use a handful of names over and over;
# the cache saves the encode/validate/lower work per call. Bounded: cleared when full.
cdef dict _NAME_CACHE = {}
cdef dict _KEY_CACHE = {}
cdef Py_ssize_t _NAME_CACHE_MAX = 4096

# In front of the two dicts, by identity: a filter's names are mostly the same str objects
# (constants of its code) call after call, and comparing a pointer costs less than a dict
# lookup. Direct-mapped by a hash of the address (two names a filter uses share a slot, and
# miss each time, for about 1 filter in 100 with three names); each slot holds references to
# its str and bytes, so an address cannot be reused by another str while its slot remembers it.
cdef enum:
    _ID_BITS = 8
    _ID_SLOTS = 256     # 1 << _ID_BITS
    _ID_NAME = 0        # _header_name's
    _ID_KEY = 1         # HeaderMap._lookup_key's
cdef PyObject* _id_str[2][_ID_SLOTS]
cdef PyObject* _id_bytes[2][_ID_SLOTS]


cdef inline size_t _id_slot(object name) noexcept:
    return <size_t>((<uint64_t><PyObject*>name * 0x9E3779B97F4A7C15ULL) >> (64 - _ID_BITS))


cdef inline void _id_put(int which, object name, bytes value) noexcept:
    cdef size_t i = _id_slot(name)
    cdef PyObject* old_str = _id_str[which][i]
    cdef PyObject* old_bytes = _id_bytes[which][i]
    Py_INCREF(name)
    Py_INCREF(value)
    _id_str[which][i] = <PyObject*>name
    _id_bytes[which][i] = <PyObject*>value
    Py_XDECREF(old_str)
    Py_XDECREF(old_bytes)


cdef bytes _header_name(object name):
    """Validates a header name (an HTTP token, or ':' + token for a pseudo-header) and returns
    it lower-cased as bytes. Raises ValueError/TypeError; nothing reaches Envoy."""
    if type(name) is not str:
        return _header_name_slow(name)
    cdef size_t i = _id_slot(name)
    if _id_str[_ID_NAME][i] == <PyObject*>name:
        return <bytes>_id_bytes[_ID_NAME][i]
    cached = _NAME_CACHE.get(name)
    cdef bytes result = <bytes>cached if cached is not None else _header_name_slow(name)
    if cached is None:
        if len(_NAME_CACHE) >= _NAME_CACHE_MAX:
            _NAME_CACHE.clear()
        _NAME_CACHE[name] = result
    _id_put(_ID_NAME, name, result)
    return result


cdef bytes _header_name_slow(object name):
    cdef bytes b
    if isinstance(name, str):
        try:
            b = (<str>name).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"invalid header name {name!r}: not ASCII") from None
    elif isinstance(name, bytes):
        b = <bytes>name
    else:
        raise TypeError(f"header name must be str or bytes, not {type(name).__name__}")
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(b)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(b), i = 0
    cdef bint upper = False
    if n > 1 and p[0] == b':':
        i = 1
    elif n == 0:
        raise ValueError("invalid header name: empty")
    while i < n:
        if not _TCHAR[p[i]]:
            raise ValueError(f"invalid header name {name!r}: {chr(p[i])!r} is not allowed")
        if b'A' <= p[i] <= b'Z':
            upper = True
        i += 1
    return b.lower() if upper else b


cdef inline object _value_buffer(object value, const char** ptr, Py_ssize_t* length):
    """Points ptr/length at the bytes of a header value (str, bytes, bytearray, memoryview or
    int), refusing control characters (tab allowed). Returns the object that owns that
    memory. A str is used in place (its cached UTF-8 form, no copy) unless it holds
    surrogates: then it is encoded with 'surrogateescape', so values read with get() are
    written back byte for byte."""
    cdef const unsigned char* p
    cdef Py_ssize_t i, n
    if type(value) is str and PyUnicode_IS_COMPACT_ASCII(value):    # the usual value, inline
        p = <const unsigned char*>PyUnicode_DATA(value)     # ASCII: its characters are its UTF-8
        n = PyUnicode_GET_LENGTH(value)
        for i in range(n):
            if p[i] < 0x20 or p[i] == 0x7f:
                return _value_buffer_checked(value, ptr, length)    # (tab, or the error)
        ptr[0] = <const char*>p
        length[0] = n
        return value
    return _value_buffer_checked(value, ptr, length)


cdef object _value_buffer_checked(object value, const char** ptr, Py_ssize_t* length):
    cdef object owner
    if type(value) is str:
        try:
            ptr[0] = PyUnicode_AsUTF8AndSize(value, length)
            owner = value
        except UnicodeEncodeError:
            owner = (<str>value).encode("utf-8", "surrogateescape")
    elif isinstance(value, bytes):
        owner = value
    elif isinstance(value, str):
        owner = (<str>value).encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytearray, memoryview)):
        owner = bytes(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        owner = str(value).encode("ascii")
    else:
        raise TypeError(f"header value must be str or bytes, not {type(value).__name__}")
    if owner is not value or type(value) is not str:
        ptr[0] = PyBytes_AS_STRING(owner)
        length[0] = PyBytes_GET_SIZE(owner)
    cdef const unsigned char* p = <const unsigned char*>ptr[0]
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(length[0]):
        c = p[i]
        if (c < 0x20 and c != 0x09) or c == 0x7f:
            raise ValueError(
                f"invalid header value {value!r}: control characters (CR, LF, NUL, 0x01-0x1f "
                f"but tab, DEL) are not allowed; Envoy would refuse to send it (503)")
    return owner


def _checked_header_name(name):
    """The runtime's header-name check, for FilterTester (envoy_pyext/_teststream.py)."""
    return _header_name(name)


def _checked_header_value(value):
    """The runtime's header-value check, for FilterTester (envoy_pyext/_teststream.py)."""
    return _header_value(value)


cdef bytes _header_value(object value):
    """A header value as validated bytes (see _value_buffer)."""
    cdef const char* ptr
    cdef Py_ssize_t length
    _value_buffer(value, &ptr, &length)
    return PyBytes_FromStringAndSize(ptr, length)


cdef inline str _decode_value(const char* ptr, size_t length):
    cdef const unsigned char* p = <const unsigned char*>ptr
    cdef unsigned char seen = 0
    cdef size_t i
    cdef str s
    if 1 < length <= 256:     # the usual short ASCII value: copied, without the decoder's setup
        for i in range(length):
            seen |= p[i]
        if seen < 0x80:
            s = PyUnicode_New(length, 127)
            memcpy(PyUnicode_1BYTE_DATA(s), ptr, length)
            return s
    return PyUnicode_DecodeUTF8(ptr, length, "surrogateescape")


cdef inline abi.envoy_dynamic_module_type_module_buffer _mbuf(bytes b) noexcept:
    cdef abi.envoy_dynamic_module_type_module_buffer m
    m.ptr = PyBytes_AS_STRING(b)
    m.length = PyBytes_GET_SIZE(b)
    return m
