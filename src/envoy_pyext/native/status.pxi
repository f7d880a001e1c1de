# envoy-pyext: Apache-2.0
#
# Status: what a hook returns. The runtime's own names for Envoy's statuses, sides, hook kinds
# and header/body types, all defined from the ABI's enums (includes/abi.pxd): no ABI number is
# written here. The mapping from a hook's Status to Envoy's status is in phase.pxi (one place).


class Status(_enum.IntEnum):
    """What a hook tells the runtime to do next. Returning ``None`` means ``CONTINUE``."""
    CONTINUE = 0
    STOP_AND_BUFFER = 1
    STOP_AND_BUFFER_WATERMARK = 2
    STOP_NO_BUFFER = 3
    LOCAL_REPLY = 4
    RUNNING = 5
    RESET = 6


cdef enum:
    S_CONTINUE = 0
    S_STOP_AND_BUFFER = 1
    S_STOP_AND_BUFFER_WATERMARK = 2
    S_STOP_NO_BUFFER = 3
    S_LOCAL_REPLY = 4
    S_RUNNING = 5
    S_RESET = 6         # on_local_reply only: reset the stream instead of the reply
    S_PENDING = 100     # internal: the hook went asynchronous (coroutine suspended, RUNNING)

_STATUS_NAMES = {int(s): s.name for s in Status}

# Envoy's statuses by hook kind. The response-side enums of the ABI have the same numbering
# as the request-side ones (tests/unit/test_abi_symbols.py checks it), so one name serves both.
cdef enum:
    HDR_CONTINUE = abi.envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue
    HDR_STOP_ITERATION = \
        abi.envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration
    HDR_STOP_ALL_BUFFER = \
        abi.envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndBuffer
    HDR_STOP_ALL_WATERMARK = \
        abi.envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndWatermark
    BODY_CONTINUE = abi.envoy_dynamic_module_type_on_http_filter_request_body_status_Continue
    BODY_STOP_BUFFER = \
        abi.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer
    BODY_STOP_WATERMARK = \
        abi.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark
    BODY_STOP_NO_BUFFER = \
        abi.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer
    TRL_CONTINUE = abi.envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue
    TRL_STOP_ITERATION = \
        abi.envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration

# Header map and body kinds.
cdef enum:
    HT_REQUEST_HEADERS = abi.envoy_dynamic_module_type_http_header_type_RequestHeader
    HT_REQUEST_TRAILERS = abi.envoy_dynamic_module_type_http_header_type_RequestTrailer
    HT_RESPONSE_HEADERS = abi.envoy_dynamic_module_type_http_header_type_ResponseHeader
    HT_RESPONSE_TRAILERS = abi.envoy_dynamic_module_type_http_header_type_ResponseTrailer

# Directions and hook kinds (runtime-internal).
cdef enum:
    SIDE_REQUEST = 0
    SIDE_RESPONSE = 1
    SIDE_NONE = 2       # on_log, on_destroy: errors are logged only
    K_HEADERS = 0
    K_DATA = 1
    K_TRAILERS = 2
    K_NONE = 3          # no hook of the stream is running

# Envoy scheduler event ids (ours: Envoy hands them back to on_scheduled).
cdef enum:
    EV_RESUME = 1       # the pending hook completed
    EV_STEP = 2         # a coroutine parked on the worker takes its next step
    EV_CALLOUT = 3      # callouts asked for off the worker: start (or reset) them

_HOOK_NAMES = (("decode_headers", "decode_data", "decode_trailers"),
               ("encode_headers", "encode_data", "encode_trailers"))
_SIDE_NAMES = ("request", "response", "stream")


cdef inline int _htype_of(int side, int kind) noexcept:
    if kind == K_TRAILERS:
        return HT_REQUEST_TRAILERS if side == SIDE_REQUEST else HT_RESPONSE_TRAILERS
    return HT_REQUEST_HEADERS if side == SIDE_REQUEST else HT_RESPONSE_HEADERS


cdef object _StatusType = Status


cdef int _status_of(object result, object fn) except -1:
    """The Status a hook returned (None is CONTINUE). Anything else, a bare int included, is
    an error answered like an exception: a stream must never wait on a value nobody meant."""
    if result is None:
        return S_CONTINUE
    if type(result) is _StatusType:
        return <int>result
    raise InvalidStatusError(
        f"{getattr(fn, '__qualname__', fn)} returned {result!r}; a hook must return an "
        f"envoy_pyext.Status or None")


# The ABI values the runtime uses, by the runtime's names: tests and tools read them from here
# instead of writing ABI numbers themselves.
_ABI = {
    "HDR_CONTINUE": HDR_CONTINUE, "HDR_STOP_ITERATION": HDR_STOP_ITERATION,
    "HDR_STOP_ALL_BUFFER": HDR_STOP_ALL_BUFFER, "HDR_STOP_ALL_WATERMARK": HDR_STOP_ALL_WATERMARK,
    "BODY_CONTINUE": BODY_CONTINUE, "BODY_STOP_BUFFER": BODY_STOP_BUFFER,
    "BODY_STOP_WATERMARK": BODY_STOP_WATERMARK, "BODY_STOP_NO_BUFFER": BODY_STOP_NO_BUFFER,
    "TRL_CONTINUE": TRL_CONTINUE, "TRL_STOP_ITERATION": TRL_STOP_ITERATION,
    "HT_REQUEST_HEADERS": HT_REQUEST_HEADERS, "HT_REQUEST_TRAILERS": HT_REQUEST_TRAILERS,
    "HT_RESPONSE_HEADERS": HT_RESPONSE_HEADERS, "HT_RESPONSE_TRAILERS": HT_RESPONSE_TRAILERS,
    "BT_RECEIVED_REQUEST": abi.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody,
    "BT_BUFFERED_REQUEST": abi.envoy_dynamic_module_type_http_body_type_BufferedRequestBody,
    "BT_RECEIVED_RESPONSE": abi.envoy_dynamic_module_type_http_body_type_ReceivedResponseBody,
    "BT_BUFFERED_RESPONSE": abi.envoy_dynamic_module_type_http_body_type_BufferedResponseBody,
    "EV_RESUME": EV_RESUME, "EV_STEP": EV_STEP, "EV_CALLOUT": EV_CALLOUT,
}
