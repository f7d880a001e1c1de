"""envoy-pyext: Envoy HTTP filters written in Python, running inside a stock Envoy.

Subclass :class:`Filter`, override the hooks you need, and point Envoy's dynamic-module filter
at ``package.module:ClassName`` (see the README).
"""

from __future__ import annotations

from ._native import (  # noqa: F401
    # filter API
    BoundCounter,
    BoundGauge,
    BoundHistogram,
    Buffer,
    Callbacks,
    ConfigContext,
    Counter,
    Filter,
    FilterState,
    Gauge,
    HeaderMap,
    Histogram,
    HttpResponse,
    HttpStream,
    Metadata,
    StreamInfo,
    TlsInfo,
    # status
    Status,
    # errors
    CalloutError,
    CalloutRequestError,
    CalloutResetError,
    ClusterNotFoundError,
    EnvoyPyextError,
    FilterConfigError,
    InvalidStatusError,
    ResponseTooLargeError,
    StreamDestroyedError,
    WrongThreadError,
    # runtime
    FEATURES,
    EnvoyLogHandler,
    event_loop,
    in_envoy,
    in_subinterpreter,
    reset_pending_peak,
    stats,
)
from ._version import __version__  # noqa: F401

__all__ = (
    # filter API
    "BoundCounter",
    "BoundGauge",
    "BoundHistogram",
    "Buffer",
    "Callbacks",
    "ConfigContext",
    "Counter",
    "Filter",
    "FilterState",
    "Gauge",
    "HeaderMap",
    "Histogram",
    "HttpResponse",
    "HttpStream",
    "Metadata",
    "StreamInfo",
    "TlsInfo",
    # status
    "Status",
    # errors
    "CalloutError",
    "CalloutRequestError",
    "CalloutResetError",
    "ClusterNotFoundError",
    "EnvoyPyextError",
    "FilterConfigError",
    "InvalidStatusError",
    "ResponseTooLargeError",
    "StreamDestroyedError",
    "WrongThreadError",
    # runtime
    "FEATURES",
    "EnvoyLogHandler",
    "event_loop",
    "in_envoy",
    "reset_pending_peak",
    "stats",
)
