# envoy-pyext: Apache-2.0
#
# Generic secrets (SDS): context.secret(name, sds_config) in parse_config subscribes the filter
# configuration to the generic secret `name` (Envoy allows it only while it creates the
# configuration, on its main thread); self.secret(name) in a hook returns the secret's current
# bytes, or None while Envoy has not delivered it. Envoy keeps the subscription up to date (a
# file source is watched, an SDS server pushes), so every read is the current value. In a
# pending hook the values are those read when its work left the worker (_info_snapshot).
# sds_config None: a secret of the bootstrap's static_resources.secrets (else Envoy refuses the
# configuration: "no such static secret"); a file or SDS-server ConfigSource needs the
# bootstrap's node id and cluster (Envoy refuses without). MEASURED: a secret Envoy has not
# delivered reads as empty through the ABI, like an empty one: both are None here.
# A development reload (--reload) keeps the subscriptions of the configuration it replaces.

import json as _json

cdef str _SECRETS_KEY = "\0secrets"     # in _Shadow.info: {name: bytes or None}


cdef int _secret_subscribe(ConfigContext ctx, object name, object sds_config) except -1:
    cdef bytes name_b, cfg_b
    cdef size_t sid
    _refuse_in_subinterp("ConfigContext.secret")   # Envoy's config object is the main's
    if not isinstance(name, str) or not name:
        raise ValueError(f"a secret name is a non-empty str, not {name!r}")
    if sds_config is None:
        cfg_b = b""
    elif isinstance(sds_config, dict):
        cfg_b = _json.dumps(sds_config).encode()
    elif isinstance(sds_config, str):
        cfg_b = (<str>sds_config).encode()
    else:
        raise TypeError(f"sds_config is a dict (a config.core.v3.ConfigSource) or its JSON, "
                        f"not {type(sds_config).__name__}")
    if name in ctx.secrets:
        return 0
    if not ctx.loading:
        raise EnvoyPyextError(
            f"context.secret({name!r}): Envoy subscribes to secrets only while it loads the "
            f"filter configuration: call it in parse_config")
    if ctx.is_validation or ctx.envoy_ptr == NULL or not _in_envoy():
        ctx.secrets[name] = 0   # nothing is delivered under --mode validate
        return 0
    name_b = (<str>name).encode()
    sid = abi.envoy_dynamic_module_callback_http_filter_config_generic_secret_subscribe(
        ctx.envoy_ptr, _mbuf(name_b), _mbuf(cfg_b))
    if sid == 0:
        raise EnvoyPyextError(f"Envoy could not subscribe to the generic secret {name!r} "
                              f"(sds_config {cfg_b.decode()!r}; Envoy's log says why)")
    ctx.secrets[name] = sid
    return 0


cdef object _secret_read(void* envoy_ptr, size_t sid):
    cdef abi.envoy_dynamic_module_type_envoy_buffer out
    out.ptr = NULL
    out.length = 0
    if sid == 0 or not abi.envoy_dynamic_module_callback_http_filter_get_generic_secret(
            envoy_ptr, sid, &out) or out.ptr == NULL or out.length == 0:
        return None     # MEASURED: an undelivered secret reads as empty (so does an empty one)
    return PyBytes_FromStringAndSize(out.ptr, out.length)


cdef int _secrets_snapshot(_Stream st, dict snap) except -1:
    cdef dict secrets = st._fc.context.secrets if st._fc.context is not None else None
    if secrets:
        snap[_SECRETS_KEY] = {name: _secret_read(st._s.envoy_ptr, sid)
                              for name, sid in secrets.items()}
    return 0


cdef object _secret(_Stream st, str name):
    """self.secret(name): the secret's current bytes, or None while not delivered."""
    cdef dict secrets = st._fc.context.secrets if st._fc.context is not None else None
    cdef _Shadow sh = _access(st)
    if secrets is None or name not in secrets:
        raise EnvoyPyextError(
            f"secret {name!r} is not subscribed by this filter configuration: call "
            f"context.secret({name!r}, sds_config) in parse_config(cls, raw, context)"
            + (f" (subscribed: {', '.join(sorted(secrets))})" if secrets else ""))
    if sh is None:
        return _secret_read(st._s.envoy_ptr, secrets[name])
    return sh.info.get(_SECRETS_KEY, {}).get(name)
