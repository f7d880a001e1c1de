# envoy-pyext: Apache-2.0
#
# Routing controls on self.callbacks: clear_route_cache (re-route after a header change),
# set_upstream_override_host (choose the endpoint), add_response_flag (%CUSTOM_FLAGS%).
# On the worker they call Envoy at once; from a pending hook they are queued on its _Shadow
# (later) and applied on the worker when it resumes, after its header writes and before the
# request goes on: an async hook can look up where a request goes, then route it.

import ipaddress as _ipaddress


def _route_clear(_Stream st):
    abi.envoy_dynamic_module_callback_http_clear_route_cache(st._s.envoy_ptr)
    st._route_rc_known = False  # the new route may have another per-route config


def _route_override(_Stream st, bytes host, bint strict):
    if not abi.envoy_dynamic_module_callback_http_set_upstream_override_host(
            st._s.envoy_ptr, _mbuf(host), strict):
        raise EnvoyPyextError(f"Envoy refused the upstream override host {host.decode()!r} (it "
                              f"works on the request path only)")


def _route_flag(_Stream st, bytes flag):
    abi.envoy_dynamic_module_callback_http_add_custom_flag(st._s.envoy_ptr, _mbuf(flag))


cdef int _route_call(_Stream st, object fn, tuple args) except -1:
    sh = _access(st)
    if sh is None:
        fn(st, *args)
    else:
        (<_Shadow>sh).later.append((fn, args))
    return 0


cdef int _clear_route_cache(_Stream st) except -1:
    return _route_call(st, _route_clear, ())


cdef int _set_upstream_override_host(_Stream st, object host, bint strict) except -1:
    if not isinstance(host, str):
        raise TypeError(f"the host is an 'ip:port' str, not {type(host).__name__}")
    addr, sep, port = (<str>host).rpartition(":")
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError
        _ipaddress.ip_address(addr[1:len(addr) - 1] if addr.startswith("[") and addr.endswith("]")
                              else addr)
    except ValueError:
        raise ValueError(f"invalid upstream host {host!r}: an 'ip:port' (IPv6: '[ip]:port')") \
            from None
    return _route_call(st, _route_override, (host.encode(), strict))


cdef int _add_response_flag(_Stream st, object flag) except -1:
    if not isinstance(flag, str) or not flag or any(c.isspace() for c in flag):
        raise ValueError(f"a response flag is a non-empty str without whitespace, not {flag!r}")
    return _route_call(st, _route_flag, ((<str>flag).encode(),))
