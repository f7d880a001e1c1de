# envoy-pyext: Apache-2.0
"""FilterTester's fake of ``Filter.http_stream`` (private): a streamed call answered by the
tester's fake clusters (testing.Callouts, the ones ``http_call`` reaches).

It mirrors native/httpstream.pxi as the filter sees it: ``send``/``send_trailers`` stream the
request, ``response_headers()`` then ``status``/``headers``, ``async for`` yields the
response's chunks, ``trailers`` after the last one, leaving the ``async with`` block early
resets the call. The fake upstream answers once the request has ended (``end_stream=True`` or
trailers): the rule's response function sees the whole request (``StreamRequest.chunks``,
``.body``, ``.trailers``); a ``Response(chunks=[...])`` arrives chunk by chunk. As in Envoy,
an unknown cluster ends the call with ClusterNotFoundError, and a call whose answer does not
come within its ``timeout`` gets Envoy's router's 504 "upstream request timeout".
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from ._native import ClusterNotFoundError, EnvoyPyextError, HttpResponse, HttpStream, event_loop

TIMEOUT_BODY = b"upstream request timeout"


class _Answer:
    """What the fake upstream answered: status, headers, the chunks, trailers (str pairs)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], chunks: list[bytes],
                 trailers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self.chunks = chunks
        self.trailers = trailers


def _str_pairs(pairs: Any) -> list[tuple[str, str]]:
    from .testing import _pairs

    return [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for k, v in _pairs(pairs)]


async def _answer(rule: Any, request: Any) -> _Answer:
    """The rule's response (testing._Rule: delay, a function, an exception) as an _Answer."""
    from .testing import Response, _body_bytes

    spec = await rule.response_spec(request)
    if isinstance(spec, HttpResponse):
        return _Answer(spec.status, list(spec.headers), [spec.body] if spec.body else [],
                       list(spec.trailers))
    r = Response.of(spec)
    chunks = [_body_bytes(c) for c in r.chunks] if r.chunks is not None else \
        ([_body_bytes(r.body)] if r.body else [])
    return _Answer(int(r.status), _str_pairs(r.headers), [c for c in chunks if c],
                   _str_pairs(r.trailers))


class TestHttpStream(HttpStream):
    """``Filter.http_stream`` under FilterTester (see the module's doc)."""

    def __init__(self, stream: Any, request: Any, rule: Any, timeout: float) -> None:
        loop = event_loop()
        self._stream = stream
        self._request = request
        self._rule = rule
        self._deadline = loop.time() + timeout   # Envoy's timeout runs from the start
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._trailers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._request_ended = loop.create_future()
        self._error: BaseException | None = None
        self._ended = False          # the whole response arrived, or the call failed
        if rule is None:
            self._fail(ClusterNotFoundError(f"no cluster named {request.cluster!r} in Envoy"))

    status = property(lambda self: self._status,
                      doc="The response status (0 until the response headers arrived).")
    headers = property(lambda self: self._headers)
    trailers = property(lambda self: self._trailers)

    def _fail(self, error: BaseException) -> None:
        # Kept without a traceback and raised as fresh copies: a traceback's frames would
        # refer back to this object (a cycle keeping the stream's Filter alive).
        self._error = copy.copy(error)
        self._ended = True

    def _raise_error(self) -> None:
        if self._error is not None:
            raise copy.copy(self._error)

    # ---- the request ---------------------------------------------------------------------
    def _send(self) -> None:
        self._stream.access()
        if self._error is not None:
            raise EnvoyPyextError("the call already ended")
        if self._request.complete:
            raise EnvoyPyextError("Envoy did not accept the data for the call (it ended?)")

    def _end_request(self) -> None:
        self._request.complete = True
        if not self._request_ended.done():
            self._request_ended.set_result(None)

    async def send(self, data: Any, end_stream: bool = False) -> None:
        from ._teststream import as_bytes

        chunk = as_bytes(data)
        self._send()
        self._request.chunks.append(chunk)
        self._request.body += chunk
        if end_stream:
            self._end_request()

    async def send_trailers(self, trailers: Any) -> None:
        from ._teststream import header_pairs

        pairs = header_pairs(trailers)
        self._send()
        self._request.trailers = _str_pairs(pairs)
        self._end_request()

    # ---- the response --------------------------------------------------------------------
    async def _wait_answer(self) -> None:
        """Until the response arrived (all at once) or the call failed."""
        if self._ended:
            return self._raise_error()
        # Awaited here, not in a Task: a Task would keep the rule's exception, whose traceback
        # holds this frame (a cycle through the stream and its Filter).
        timer = asyncio.timeout_at(self._deadline)
        try:
            async with timer:
                await self._request_ended
                answer = await _answer(self._rule, self._request)
        except asyncio.CancelledError:
            self._reset()
            raise
        except TimeoutError as e:
            if not timer.expired():   # the rule's own
                self._fail(e)
                raise
            # Envoy's router answers for the upstream.
            answer = _Answer(504, [("content-length", str(len(TIMEOUT_BODY))),
                                   ("content-type", "text/plain")], [TIMEOUT_BODY], [])
        except Exception as e:  # noqa: BLE001  (the rule's error ends the call)
            self._fail(e)
            raise
        self._status = answer.status
        self._headers = answer.headers
        self._chunks = answer.chunks
        self._trailers = answer.trailers
        self._ended = True

    async def response_headers(self) -> None:
        """Waits for the response headers; then ``status`` and ``headers`` are set."""
        await self._wait_answer()

    def __aiter__(self) -> TestHttpStream:
        return self

    async def __anext__(self) -> bytes:
        await self._wait_answer()
        if self._chunks:
            return self._chunks.pop(0)
        raise StopAsyncIteration

    def _reset(self) -> None:
        if not self._ended:
            self._request.reset = True
            self._fail(EnvoyPyextError("the call was reset (its caller left it)"))

    async def __aenter__(self) -> TestHttpStream:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._reset()   # the caller left before the response ended: reset the call
        return False

    def __repr__(self) -> str:
        return f"<HttpStream status={self._status} ended={self._ended}>"
