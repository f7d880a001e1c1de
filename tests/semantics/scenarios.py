"""The semantics table: each scenario is a filter, a request, and the outcome the runtime must
give, in Envoy and under FilterTester alike.

An outcome is a dict:
  status     the status the client got, or "reset"
  body       the body the client got (absent for a reset)
  headers    {name: value or None (absent)} for the response header names listed
  upstream   None (the request never reached the upstream), "any" (it may have, partly: the
             stream was answered while the request was streaming), or {"body": ...,
             "headers": {...}, "trailers": {...}} for the names listed

The upstream echoes the request body (the integration harness's "echo" mode, which
`harness_upstream` reproduces for FilterTester). Outcomes never depend on how Envoy splits
bodies into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoy_pyext.testing import Response, UpstreamRequest

MODULE = "tests.semantics.filters"


@dataclass
class Scenario:
    name: str
    cls: str                              # class name in tests/semantics/filters.py
    expect: dict[str, Any]
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None             # sent with content-length
    chunks: list[bytes] | None = None     # sent chunked
    trailers: dict[str, str] | None = None
    config: str = ""

    @property
    def filter_name(self) -> str:
        return f"{MODULE}:{self.cls}"


def _up(body: bytes = b"", headers: dict | None = None, trailers: dict | None = None) -> dict:
    return {"body": body, "headers": headers or {}, "trailers": trailers or {}}


SCENARIOS = [
    Scenario("continue_headers", "AddHeaders", headers={"x-user": "alice"}, expect={
        "status": 200, "body": b"", "headers": {"x-filter": "alice"},
        "upstream": _up(headers={"x-seen": "1", "x-a": "3"})}),
    Scenario("local_reply_on_request", "ReplyOnHeaders", method="POST", body=b"payload", expect={
        "status": 401, "body": b"denied\n",
        "headers": {"www-authenticate": "ApiKey", "content-type": "text/plain",
                    "content-length": "7"},
        "upstream": None}),
    Scenario("local_reply_empty", "ReplyEmpty", expect={
        "status": 403, "body": b"", "headers": {"content-length": "0", "content-type": None},
        "upstream": None}),
    Scenario("local_reply_json_repeated_header", "ReplyJson", expect={
        "status": 429, "body": b'{"error": "slow down"}',
        "headers": {"content-type": "application/json", "x-retry": "1, 2"}, "upstream": None}),
    Scenario("local_reply_on_response", "ReplyOnResponse", method="POST", body=b"abc", expect={
        "status": 502, "body": b"bad upstream\n", "headers": {"content-type": "text/plain"},
        "upstream": _up(b"abc")}),
    Scenario("raise_fail_closed", "RaiseRequest", expect={
        "status": 500, "body": b"Internal Server Error\n",
        "headers": {"content-type": "text/plain"}, "upstream": None}),
    Scenario("raise_fail_open", "RaiseFailOpen", expect={
        "status": 200, "body": b"", "headers": {"x-encoded": "1"},
        "upstream": _up(headers={"x-before": "1"})}),
    Scenario("init_raises", "InitRaises", method="POST", body=b"data", expect={
        "status": 500, "body": b"Internal Server Error\n",
        "headers": {"content-type": "text/plain"}, "upstream": None}),
    Scenario("init_raises_fail_open", "InitRaisesFailOpen", method="POST", body=b"data", expect={
        "status": 200, "body": b"data", "headers": {"x-encoded": "1"},
        "upstream": _up(b"data")}),
    Scenario("invalid_status", "BadStatus", expect={
        "status": 500, "body": b"Internal Server Error\n", "headers": {}, "upstream": None}),
    Scenario("local_reply_status_without_reply", "LocalReplyWithoutReply", expect={
        "status": 500, "body": b"Internal Server Error\n", "headers": {}, "upstream": None}),
    Scenario("stop_no_buffer_at_end", "StopNoBufferAtEnd", expect={
        "status": 500, "body": b"Internal Server Error\n", "headers": {}, "upstream": None}),
    Scenario("stop_and_buffer_without_body", "BufferOnBodylessRequest", expect={
        "status": 200, "body": b"", "headers": {},
        "upstream": _up(headers={"x-data-called": None})}),
    Scenario("stop_and_buffer_rewrite", "BufferRewrite", method="POST", body=b"hello world",
             expect={"status": 200, "body": b"HELLO WORLD-rewritten", "headers": {},
                     "upstream": _up(b"HELLO WORLD-rewritten", {
                         "content-length": "21", "x-calls": "1", "x-end": "True"})}),
    Scenario("stop_and_buffer_rewrite_chunked", "BufferRewrite", method="POST",
             chunks=[b"abc", b"def", b"ghi"],
             expect={"status": 200, "body": b"ABCDEFGHI-rewritten", "headers": {},
                     "upstream": _up(b"ABCDEFGHI-rewritten", {
                         "content-length": None, "x-calls": "1"})}),
    Scenario("streaming_same_length", "StreamUpper", method="POST", body=b"keep the length",
             expect={"status": 200, "body": b"KEEP THE LENGTH", "headers": {},
                     "upstream": _up(b"KEEP THE LENGTH", {"content-length": "15"})}),
    Scenario("streaming_growth_with_content_length", "StreamGrowWithLength", method="POST",
             body=b"12345", expect={
                 "status": 500, "body": b"Internal Server Error\n", "headers": {},
                 "upstream": "any"}),
    Scenario("streaming_growth_without_content_length", "StreamGrowWithoutLength",
             method="POST", body=b"12345", expect={
                 "status": 200, "body": b"12345<end>", "headers": {},
                 "upstream": _up(b"12345<end>", {"content-length": None})}),
    Scenario("response_stop_and_buffer", "ResponseBufferUpper", method="POST", body=b"shout",
             expect={"status": 200, "body": b"SHOUT!", "headers": {"content-length": "6"},
                     "upstream": _up(b"shout")}),
    Scenario("response_growth_resets", "ResponseGrowReset", method="POST", body=b"abc",
             expect={"status": "reset", "upstream": _up(b"abc")}),
    Scenario("response_error_while_buffered", "EncodeRaiseBuffered", method="POST",
             body=b"abc", expect={"status": 500, "body": b"Internal Server Error\n",
                                  "headers": {}, "upstream": _up(b"abc")}),
    Scenario("async_hooks", "AsyncHeaders", expect={
        "status": 200, "body": b"", "headers": {"x-async-response": "True"},
        "upstream": _up(headers={"x-async": "1"})}),
    Scenario("async_timeout_local_reply", "AsyncTimeout", expect={
        "status": 504, "body": b"too slow\n", "headers": {}, "upstream": None}),
    Scenario("async_raise", "AsyncRaise", expect={
        "status": 500, "body": b"Internal Server Error\n", "headers": {}, "upstream": None}),
    Scenario("running_thread_continues", "ThreadContinue", expect={
        "status": 200, "body": b"", "headers": {}, "upstream": _up(headers={"x-thread": "1"})}),
    Scenario("running_thread_replies", "ThreadReply", expect={
        "status": 403, "body": b"thread says no\n", "headers": {}, "upstream": None}),
    Scenario("request_trailers", "RequestTrailers", method="POST", chunks=[b"ab", b"cd"],
             trailers={"x-t": "7"}, expect={
                 "status": 200, "body": b"abcd", "headers": {},
                 "upstream": _up(b"abcd", trailers={"x-t": "7", "x-trailer-seen": "7"})}),
    Scenario("stop_and_buffer_then_trailers", "BufferWithTrailers", method="POST",
             chunks=[b"ab", b"cd"], trailers={"x-t": "1"}, expect={
                 "status": 200, "body": b"[abcd]", "headers": {},
                 "upstream": _up(b"[abcd]", {"x-data-end": "True"},
                                 {"x-t": "1", "x-body-len": "6"})}),
    Scenario("watermark_then_stream", "WatermarkUpper", method="POST",
             chunks=[b"ab", b"cd", b"ef", b"gh", b"ij"], expect={
                 "status": 200, "body": b"ABCDEFGHIJ", "headers": {},
                 "upstream": _up(b"ABCDEFGHIJ")}),
    Scenario("stop_no_buffer_consumes", "NoBufferConsume", method="POST", body=b"quiet",
             expect={"status": 200, "body": b"QUIET", "headers": {},
                     "upstream": _up(b"QUIET", {"content-length": "5"})}),
    Scenario("invalid_header_value", "InvalidHeaderValue", expect={
        "status": 500, "body": b"Internal Server Error\n", "headers": {}, "upstream": None}),
    Scenario("body_write_in_headers_hook", "BodyWriteInHeaders", method="POST", body=b"x",
             expect={"status": 500, "body": b"Internal Server Error\n", "headers": {},
                     "upstream": None}),
    Scenario("on_log_error_logged_only", "OnLogRaises", expect={
        "status": 200, "body": b"", "headers": {"x-filter": "1"}, "upstream": _up()}),
    Scenario("request_over_buffer_limit", "BufferRequestSeeStatus", method="POST",
             body=b"x" * (2 << 20), expect={
                 "status": 413, "body": b"Payload Too Large",
                 "headers": {"x-encode-saw": "413", "content-type": "text/plain"},
                 "upstream": None}),
    Scenario("response_over_buffer_limit", "BufferResponse", method="POST",
             body=b"y" * (2 << 20), expect={
                 "status": 500, "body": b"Internal Server Error", "headers": {},
                 "upstream": _up(b"y" * (2 << 20))}),
    Scenario("buffer_limit_raised", "RaiseLimit", method="POST", body=b"z" * (2 << 20),
             expect={"status": 200, "body": b"z" * (2 << 20), "headers": {},
                     "upstream": _up(b"z" * (2 << 20), {"x-len": str(2 << 20)})}),
    Scenario("metadata_round_trip", "MetadataRoundTrip", expect={
        "status": 200, "body": b"", "upstream": _up(),
        "headers": {"x-meta": "3.0|3|x|['a', 1.0, True]|d|None|['l', 'n', 's']"}}),
    Scenario("properties_and_stream_info", "Properties", path="/p/q?a=1&b=2", expect={
        "status": 200, "body": b"", "headers": {"x-code": "200"},
        "upstream": _up(headers={
            "x-props": "GET|/p/q|a=1&b=2|/p/q?a=1&b=2|False|upstream|HTTP/1.1|upstream|None|True",
            "x-unknown": "ValueError"})}),
    Scenario("filter_state_round_trip", "FilterStateRoundTrip", expect={
        "status": 200, "body": b"", "upstream": _up(headers={"x-typeerror": "1"}),
        "headers": {"x-fs": "b'ann'|True|{'k': [1, 2]}|none"}}),
    Scenario("contextvars_per_stream", "ContextVars", headers={"x-id": "r-42"}, expect={
        "status": 200, "body": b"", "headers": {"x-id-seen": "r-42"}, "upstream": _up()}),
]

BY_NAME = {s.name: s for s in SCENARIOS}


def harness_upstream(req: UpstreamRequest) -> Response:
    """FilterTester's stand-in for tests/integration/harness.py's upstream in "echo" mode: the
    request body comes back, as application/octet-stream with content-length."""
    return Response(200, {"content-type": "application/octet-stream"}, req.body)


def outcome(scenario: Scenario, status: int | str, headers: list[tuple[str, str]],
            body: bytes, upstream: dict | None) -> dict[str, Any]:
    """The comparable outcome. `headers`: what the client got; `upstream`: None, or
    {"body", "headers": [(k, v)], "trailers": [(k, v)]} of what the upstream received."""
    want = scenario.expect
    if status == "reset":
        out: dict[str, Any] = {"status": "reset"}
    else:
        out = {"status": status, "body": body,
               "headers": {k: _joined(headers, k) for k in want.get("headers", {})}}
    exp_up = want["upstream"]
    if exp_up == "any":
        out["upstream"] = "any"
    elif upstream is None:
        out["upstream"] = None
    else:
        out["upstream"] = {
            "body": upstream["body"],
            "headers": {k: _joined(upstream["headers"], k)
                        for k in (exp_up or {}).get("headers", {})},
            "trailers": {k: _joined(upstream["trailers"], k)
                         for k in (exp_up or {}).get("trailers", {})},
        }
    return out


def _joined(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k.lower() == name]
    return ", ".join(values) if values else None
