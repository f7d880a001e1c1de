# envoy-pyext: Apache-2.0
#
# HeaderMap: a view onto one of the stream's four header maps (request/response headers and
# trailers). Every call checks that the stream is alive and that we are on its worker thread,
# then goes straight to Envoy; nothing is kept past what could change the map (_hdr_epoch), so
# the view always shows Envoy's current map.
# Values come back as str decoded from UTF-8 with 'surrogateescape': bytes that are not UTF-8
# become lone surrogates and turn back into the same bytes when written (or use get_bytes()).

cdef enum:
    _WALK_MAX = 32      # maps up to this size are searched by one walk (_find_first)


# What a walk over a map learnt (HeaderMap._walk_names: a 64-bit Bloom filter of its names)
# holds while nothing but the view itself can have changed the map: inside one synchronous hook
# (_Stream._hook_depth > 0), with no other access to any stream in between. Every access check
# (_access) and every hook's start and end advance this epoch; a view's knowledge is current
# when its epoch is the one before the access check of the call using it. Envoy changes a map
# only when it has control: between hooks, or inside a call the runtime makes for a view or
# callback, which goes through _access first.
cdef unsigned long _hdr_epoch = 1


cdef inline uint64_t _name_bit(const char* k, size_t n) noexcept:
    """The Bloom filter bit of a header name (n > 0): its middle and last bytes and its length,
    mixed (it runs for every name of a walked map: kept to a few instructions; the first byte
    adds little: 'x', ':' or a letter of a few common names)."""
    cdef const unsigned char* p = <const unsigned char*>k
    cdef uint32_t a = p[n >> 1] | <uint32_t>p[n - 1] << 8 | <uint32_t>n << 16
    return (<uint64_t>1) << (<uint32_t>(a * 0x9E3779B1U) >> 26)


cdef inline bint _walk_current(HeaderMap h) noexcept:
    """The last walk over `h`'s map is current (see _hdr_epoch; asked right after the caller's
    _access, which advanced the epoch once). (Module-level, like the helpers below: a method of
    HeaderMap, which the test kit subclasses, is called through its vtable.)"""
    return h._walk_epoch + 1 == _hdr_epoch and h._st._hook_depth > 0


cdef inline bint _known_absent(HeaderMap h, bytes key) noexcept:
    """True when the last walk over `h`'s map is current and had no name with `key`'s bit:
    the map lacks `key`."""
    return _walk_current(h) and PyBytes_GET_SIZE(key) > 0 \
        and (h._walk_names & _name_bit(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))) == 0


cdef int _find_first(HeaderMap h, void* ep, bytes key,
                     abi.envoy_dynamic_module_type_envoy_buffer* out) except -2:
    """The first value of `key` (lower-case) by one walk over `h`'s map, which costs Envoy
    less than get_header (a LowerCaseString built per call, then a search). Returns 1 and
    sets `out`, 0 when absent, -1 when the map is too large for the walk (use get_header).
    Records the map's names (_walk_names) for the calls that follow in the same hook."""
    cdef abi.envoy_dynamic_module_type_envoy_http_header arr[_WALK_MAX]
    cdef size_t n = abi.envoy_dynamic_module_callback_http_get_headers_size(ep, h._htype)
    cdef size_t klen = <size_t>PyBytes_GET_SIZE(key), i
    cdef const char* k = PyBytes_AS_STRING(key)
    cdef uint64_t names = 0
    cdef int found = 0
    h._walk_epoch = 0
    if n > _WALK_MAX:
        return -1
    if n != 0 and not abi.envoy_dynamic_module_callback_http_get_headers(ep, h._htype, arr):
        return 0
    for i in range(n):
        if arr[i].key_length == 0:
            continue
        names |= _name_bit(arr[i].key_ptr, arr[i].key_length)
        if not found and arr[i].key_length == klen and arr[i].value_ptr != NULL \
                and memcmp(arr[i].key_ptr, k, klen) == 0:
            out.ptr = arr[i].value_ptr
            out.length = arr[i].value_length
            found = 1
    h._walk_names = names
    h._walk_epoch = _hdr_epoch
    return found


@cython.freelist(8)
@cython.binding(False)   # methods as C method descriptors: CPython specialises their calls
@cython.embedsignature(True)
@cython.embedsignature.format("clinic")  # (and inspect.signature still reads theirs)
cdef class HeaderMap:
    """Request or response headers (or trailers) of one stream. Names are case-insensitive."""

    def __init__(self):
        raise TypeError("HeaderMap objects are created by envoy-pyext, not by user code")

    @staticmethod
    cdef HeaderMap new(_Stream st, int htype):
        cdef HeaderMap h = HeaderMap.__new__(HeaderMap)
        h._st = st
        h._htype = <abi.envoy_dynamic_module_type_http_header_type>htype
        h._walk_epoch = 0
        return h

    cdef bytes _lookup_key(self, object name):
        # Reads need no validation (an invalid name is simply absent), only lower-casing.
        cdef bytes key
        cdef size_t i
        if type(name) is str:
            i = _id_slot(name)
            if _id_str[_ID_KEY][i] == <PyObject*>name:
                return <bytes>_id_bytes[_ID_KEY][i]
            cached = _KEY_CACHE.get(name)
            if cached is not None:
                _id_put(_ID_KEY, name, <bytes>cached)
                return <bytes>cached
            try:
                key = (<str>name).lower().encode("ascii")
            except UnicodeEncodeError:
                return None
            if len(_KEY_CACHE) >= _NAME_CACHE_MAX:
                _KEY_CACHE.clear()
            _KEY_CACHE[name] = key
            _id_put(_ID_KEY, name, key)
            return key
        if isinstance(name, str):
            try:
                return (<str>name).lower().encode("ascii")
            except UnicodeEncodeError:
                return None
        if isinstance(name, bytes):
            return (<bytes>name).lower()
        raise TypeError(f"header name must be str or bytes, not {type(name).__name__}")

    cdef object _get(self, object name, bint raw):
        cdef _Shadow sh = _access(self._st)
        cdef bytes key = self._lookup_key(name)
        if key is None:
            return None
        if sh is not None:
            values = sh.get_all(self._htype, key)
            if not values:
                return None
            return values[0] if raw else (<bytes>values[0]).decode("utf-8", "surrogateescape")
        if _known_absent(self, key):
            self._walk_epoch = _hdr_epoch   # (still current: nothing changed the map)
            return None
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_envoy_buffer out
        out.ptr = NULL
        out.length = 0
        cdef int found = _find_first(self, ep, key, &out)
        if found < 0 and (not abi.envoy_dynamic_module_callback_http_get_header(
                ep, self._htype, _mbuf(key), &out, 0, NULL) or out.ptr == NULL):
            return None
        if found == 0:
            return None
        if raw:
            return PyBytes_FromStringAndSize(out.ptr, out.length)
        return _decode_value(out.ptr, out.length)

    cdef list _get_all(self, object name, bint raw):
        cdef _Shadow sh = _access(self._st)
        cdef bytes key = self._lookup_key(name)
        cdef list result = []
        if key is None:
            return result
        if sh is not None:
            values = sh.get_all(self._htype, key)
            if raw:
                return values
            return [(<bytes>v).decode("utf-8", "surrogateescape") for v in values]
        cdef void* ep = self._st._s.envoy_ptr
        cdef abi.envoy_dynamic_module_type_envoy_buffer out
        cdef size_t count = 0, i
        out.ptr = NULL
        out.length = 0
        if not abi.envoy_dynamic_module_callback_http_get_header(
                ep, self._htype, _mbuf(key), &out, 0, &count) or out.ptr == NULL:
            return result
        for i in range(count):
            if i > 0:
                out.ptr = NULL
                out.length = 0
                abi.envoy_dynamic_module_callback_http_get_header(
                    ep, self._htype, _mbuf(key), &out, i, NULL)
                if out.ptr == NULL:
                    continue
            result.append(PyBytes_FromStringAndSize(out.ptr, out.length) if raw
                          else _decode_value(out.ptr, out.length))
        return result

    cdef list _items(self, bint raw):
        cdef _Shadow sh = _access(self._st)
        if sh is None:
            return self._items_direct(raw)
        m = sh.maps[self._htype]
        if m is None:
            return []
        if raw:
            return [(k, v) for k, v in m]
        return [((<bytes>k).decode("latin-1"), (<bytes>v).decode("utf-8", "surrogateescape"))
                for k, v in m]

    cdef list _items_direct(self, bint raw):
        cdef void* ep = self._st._s.envoy_ptr
        cdef size_t n = abi.envoy_dynamic_module_callback_http_get_headers_size(ep, self._htype)
        cdef list result = []
        if n == 0:
            return result
        cdef abi.envoy_dynamic_module_type_envoy_http_header* arr = \
            <abi.envoy_dynamic_module_type_envoy_http_header*>calloc(
                n, sizeof(abi.envoy_dynamic_module_type_envoy_http_header))
        if arr == NULL:
            raise MemoryError()
        cdef size_t i
        try:
            if not abi.envoy_dynamic_module_callback_http_get_headers(ep, self._htype, arr):
                return result
            for i in range(n):
                key = PyBytes_FromStringAndSize(arr[i].key_ptr, arr[i].key_length)
                if raw:
                    value = PyBytes_FromStringAndSize(arr[i].value_ptr, arr[i].value_length)
                else:
                    key = key.decode("latin-1")
                    value = _decode_value(arr[i].value_ptr, arr[i].value_length)
                result.append((key, value))
        finally:
            free(arr)
        return result

    cdef int _write(self, object name, object value, bint add) except -1:
        cdef bytes key = _header_name(name)
        cdef abi.envoy_dynamic_module_type_module_buffer val
        cdef Py_ssize_t val_length
        cdef object owner = _value_buffer(value, &val.ptr, &val_length)  # keeps val.ptr alive
        val.length = <size_t>val_length
        if val_length == 0:
            # Envoy 1.40's ABI cannot store an empty value: add_header refuses it and
            # set_header treats it as "remove". Say so instead of silently dropping it.
            raise ValueError(f"empty value for header {name!r}: Envoy 1.40's dynamic-module "
                             f"ABI cannot store empty header values (use remove() to delete)")
        cdef _Shadow sh = _access(self._st)
        if sh is not None:
            if add:
                sh.add(self._htype, key, PyBytes_FromStringAndSize(val.ptr, val_length))
            else:
                sh.set(self._htype, key, PyBytes_FromStringAndSize(val.ptr, val_length))
            return 0
        cdef void* ep = self._st._s.envoy_ptr
        cdef bint ok, known = _walk_current(self)
        cdef abi.envoy_dynamic_module_type_envoy_buffer seen
        # Setting a header the map does not have is adding it: Envoy's add_header costs a
        # fraction of set_header (which builds a LowerCaseString and removes first), and the
        # walk that tells is cheap (_find_first), or already done by a get() of this hook.
        if add or _known_absent(self, key) or _find_first(self, ep, key, &seen) == 0:
            ok = abi.envoy_dynamic_module_callback_http_add_header(
                ep, self._htype, _mbuf(key), val)
        else:
            ok = abi.envoy_dynamic_module_callback_http_set_header(
                ep, self._htype, _mbuf(key), val)
        if not ok:
            raise EnvoyPyextError(
                f"Envoy refused to change {_HEADER_MAP_NAMES[self._htype]} "
                f"(the map does not exist in this phase)")
        if known or self._walk_epoch == _hdr_epoch:   # the names stay known, with this one
            self._walk_names |= _name_bit(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
            self._walk_epoch = _hdr_epoch
        return 0

    cdef int _remove(self, object name) except -1:
        cdef bytes key = _header_name(name)
        cdef _Shadow sh = _access(self._st)
        if sh is not None:
            sh.remove(self._htype, key)
            return 0
        cdef abi.envoy_dynamic_module_type_module_buffer none
        none.ptr = NULL     # a NULL value removes every value of the key (ABI convention)
        none.length = 0
        abi.envoy_dynamic_module_callback_http_set_header(
            self._st._s.envoy_ptr, self._htype, _mbuf(key), none)
        return 0

    ### Public API ###

    def get(self, name, default=None):
        """The first value of ``name`` as str, or ``default``."""
        v = self._get(name, False)
        return default if v is None else v

    def get_bytes(self, name, default=None):
        """The first value of ``name`` as the exact bytes Envoy holds, or ``default``."""
        v = self._get(name, True)
        return default if v is None else v

    def get_all(self, name):
        """Every value of ``name``, in order (an empty list when absent)."""
        return self._get_all(name, False)

    def set(self, name, value):
        """Replaces every value of ``name`` with ``value``."""
        self._write(name, value, False)

    def add(self, name, value):
        """Appends a value for ``name``, keeping the existing ones."""
        self._write(name, value, True)

    def remove(self, name):
        """Removes every value of ``name``; absent names are ignored."""
        self._remove(name)

    def keys(self):
        """Distinct names, lower-case, in first-seen order."""
        seen = {}
        for k, _ in self._items(False):
            seen[k] = None
        return list(seen)

    def items(self):
        """Every (name, value) pair in order, repeated names included."""
        return self._items(False)

    def raw_items(self):
        """Every (name, value) pair as bytes, exactly as Envoy holds them."""
        return self._items(True)

    def __getitem__(self, name):
        v = self._get(name, False)
        if v is None:
            raise KeyError(name)
        return v

    def __setitem__(self, name, value):
        self._write(name, value, False)

    def __delitem__(self, name):
        if self._get(name, True) is None:
            raise KeyError(name)
        self._remove(name)

    def __contains__(self, name):
        return self._get(name, True) is not None

    def __len__(self):
        """The number of distinct names (like a dict of lists)."""
        return len(self.keys())

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        if self._st is None or self._st._s == NULL:
            return f"<HeaderMap {_HEADER_MAP_NAMES[self._htype]} (stream destroyed)>"
        return f"<HeaderMap {_HEADER_MAP_NAMES[self._htype]} {self.items()!r}>"


_HEADER_MAP_NAMES = ("request headers", "request trailers", "response headers",
                     "response trailers")
