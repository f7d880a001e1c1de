"""The filters of the semantics table (tests/semantics/scenarios.py). Imported by FilterTester in
the unit tests and by the Envoy the integration test starts (as tests.semantics.filters)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from envoy_pyext import Filter, Status


class AddHeaders(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-seen"] = "1"
        headers.add("x-a", "1")
        headers.add("x-a", "2")
        headers.set("x-a", "3")

    def encode_headers(self, headers, end_stream):
        headers["x-filter"] = self.request_headers.get("x-user", "anonymous")


class ReplyOnHeaders(Filter):
    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(401, body=b"denied\n",
                                               headers={"www-authenticate": "ApiKey"},
                                               details="no key")


class ReplyEmpty(Filter):
    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(403)


class ReplyJson(Filter):
    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(
            429, body=b'{"error": "slow down"}', headers=[("content-type", "application/json"),
                                                          ("x-retry", "1"), ("x-retry", "2")])


class ReplyOnResponse(Filter):
    def encode_headers(self, headers, end_stream):
        if headers.get(":status") == "200":
            return self.callbacks.send_local_reply(502, body=b"bad upstream\n")
        return None


class RaiseRequest(Filter):
    def decode_headers(self, headers, end_stream):
        raise ValueError("boom")


class RaiseFailOpen(Filter):
    fail_open = True

    def decode_headers(self, headers, end_stream):
        headers["x-before"] = "1"
        raise ValueError("boom")

    def encode_headers(self, headers, end_stream):
        headers["x-encoded"] = "1"


class InitRaises(Filter):
    """__init__ raises: answered like a hook's exception, at the request headers (500)."""

    def __init__(self):
        raise RuntimeError("boom in __init__")

    def decode_data(self, buffer, end_stream):
        return None


class InitRaisesFailOpen(Filter):
    """__init__ raises, fail_open: the stream goes on, the other hooks run."""

    fail_open = True

    def __init__(self):
        raise RuntimeError("boom in __init__")

    def encode_headers(self, headers, end_stream):
        headers["x-encoded"] = "1"


class BadStatus(Filter):
    def decode_headers(self, headers, end_stream):
        return 1


class LocalReplyWithoutReply(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.LOCAL_REPLY


class StopNoBufferAtEnd(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.STOP_NO_BUFFER


class BufferOnBodylessRequest(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        self.request_headers["x-data-called"] = "1"


class BufferRewrite(Filter):
    calls = 0

    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        self.calls += 1
        buffer.set(bytes(buffer).upper() + b"-rewritten")
        self.request_headers["x-calls"] = str(self.calls)
        self.request_headers["x-end"] = str(end_stream)


class StreamUpper(Filter):
    def decode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).upper())


class StreamGrowWithLength(Filter):
    def decode_data(self, buffer, end_stream):
        if len(buffer):
            buffer.append(b"+")


class StreamGrowWithoutLength(Filter):
    def decode_headers(self, headers, end_stream):
        headers.remove("content-length")

    def decode_data(self, buffer, end_stream):
        if end_stream:
            buffer.append(b"<end>")


class ResponseBufferUpper(Filter):
    def encode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def encode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer).upper() + b"!")


class ResponseGrowReset(Filter):
    def encode_data(self, buffer, end_stream):
        if len(buffer):
            buffer.append(b"x")


class AsyncHeaders(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.01)
        headers["x-async"] = "1"

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0)
        headers["x-async-response"] = str(asyncio.current_task() is not None)


class AsyncTimeout(Filter):
    async def decode_headers(self, headers, end_stream):
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(30)
        except TimeoutError:
            return self.callbacks.send_local_reply(504, body=b"too slow\n")
        return None


class AsyncRaise(Filter):
    async def decode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)
        raise RuntimeError("async boom")


class ThreadContinue(Filter):
    def decode_headers(self, headers, end_stream):
        threading.Thread(target=self.work).start()
        return Status.RUNNING

    def work(self):
        self.request_headers["x-thread"] = "1"
        self.callbacks.continue_request()


class ThreadReply(Filter):
    def decode_headers(self, headers, end_stream):
        threading.Thread(target=self.work).start()
        return Status.RUNNING

    def work(self):
        self.callbacks.send_local_reply(403, body=b"thread says no\n")


class RequestTrailers(Filter):
    def decode_trailers(self, trailers):
        trailers["x-trailer-seen"] = trailers.get("x-t", "none")


class BufferWithTrailers(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        buffer.set(b"[" + bytes(buffer) + b"]")
        self.request_headers["x-data-end"] = str(end_stream)

    def decode_trailers(self, trailers):
        trailers["x-body-len"] = str(len(self.request_body))


class WatermarkUpper(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER_WATERMARK

    def decode_data(self, buffer, end_stream):
        if not end_stream and len(buffer) < 6:
            return Status.STOP_AND_BUFFER_WATERMARK
        buffer.set(bytes(buffer).upper())
        return None


class NoBufferConsume(Filter):
    def __init__(self):
        self.seen = b""

    def decode_headers(self, headers, end_stream):
        return Status.STOP_NO_BUFFER

    def decode_data(self, buffer, end_stream):
        self.seen += bytes(buffer)
        if not end_stream:
            return Status.STOP_NO_BUFFER
        buffer.set(self.seen.upper())
        return None


class InvalidHeaderValue(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-bad"] = "a\nb"


class BodyWriteInHeaders(Filter):
    def decode_headers(self, headers, end_stream):
        self.request_body.set(b"x")


class OnLogRaises(Filter):
    def encode_headers(self, headers, end_stream):
        headers["x-filter"] = "1"

    def on_log(self):
        raise RuntimeError("on_log boom")


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class ContextVars(Filter):
    def decode_headers(self, headers, end_stream):
        _request_id.set(headers.get("x-id", "none"))

    async def encode_headers(self, headers, end_stream):
        await asyncio.sleep(0.001)
        headers["x-id-seen"] = _request_id.get()


class EncodeRaiseBuffered(Filter):
    def encode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def encode_data(self, buffer, end_stream):
        raise KeyError("missing")


class BufferRequestSeeStatus(Filter):
    def decode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        self.request_headers["x-len"] = str(len(buffer))

    def encode_headers(self, headers, end_stream):
        headers["x-encode-saw"] = headers.get(":status")


class BufferResponse(Filter):
    def encode_headers(self, headers, end_stream):
        return Status.STOP_AND_BUFFER

    def encode_data(self, buffer, end_stream):
        buffer.set(bytes(buffer)[:10])


class RaiseLimit(Filter):
    def decode_headers(self, headers, end_stream):
        self.callbacks.buffer_limit = 4 << 20
        return Status.STOP_AND_BUFFER

    def decode_data(self, buffer, end_stream):
        self.request_headers["x-len"] = str(len(buffer))


class MetadataRoundTrip(Filter):
    def decode_headers(self, headers, end_stream):
        self.metadata.set("acme", "n", 3)
        self.metadata.set("acme", "s", "x")
        self.metadata.set("acme", "l", ["a", 1, True])

    def encode_headers(self, headers, end_stream):
        m = self.metadata
        headers["x-meta"] = "|".join(map(str, (
            m.get("acme", "n"), m.get("acme", "n", type=int), m.get("acme", "s"),
            m.get("acme", "l"), m.get("acme", "missing", "d"), m.get("acme", "s", type=float),
            sorted(m.keys("acme")))))


class Properties(Filter):
    def decode_headers(self, headers, end_stream):
        p = self.get_property
        si = self.stream_info
        headers["x-props"] = "|".join(map(str, (
            p("request.method"), p("request.url_path"), p("request.query"), p("request.path"),
            p("connection.mtls"), p("xds.cluster_name"), si.protocol, si.cluster_name,
            si.response_code, si.request_id == headers.get("x-request-id"))))
        try:
            p("no.such.property")
        except ValueError:
            headers["x-unknown"] = "ValueError"

    def encode_headers(self, headers, end_stream):
        headers["x-code"] = str(self.stream_info.response_code)


class FilterStateRoundTrip(Filter):
    def decode_headers(self, headers, end_stream):
        self.filter_state.set("acme.user", "ann")
        self.filter_state.set_object("acme.obj", {"k": [1, 2]})
        try:
            self.filter_state.set("acme.bad", 5)
        except TypeError:
            headers["x-typeerror"] = "1"

    def encode_headers(self, headers, end_stream):
        fs = self.filter_state
        headers["x-fs"] = "|".join(map(str, (
            fs.get("acme.user"), "acme.user" in fs, fs.get_object("acme.obj"),
            fs.get("acme.nope", "none"))))
