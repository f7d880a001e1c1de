"""Body writes in a trailers hook after the headers went on with content-length
(FilterTester; tests/integration/test_body_edit.py runs the request side through Envoy): an
edit that keeps the length passes (upper/lower/translate, set() of as many bytes), one that
would grow or shrink the body raises EnvoyPyextError, and the message says which."""

from __future__ import annotations

import json

import pytest

from envoy_pyext import EnvoyPyextError, Filter, Status
from envoy_pyext.testing import FilterTester

SWAP = bytes.maketrans(b"ab", b"ba")
WRITES = {  # name -> (write, the length change it would make)
    "append": (lambda b: b.append(b"!"), +1), "prepend": (lambda b: b.prepend(b">>"), +2),
    "drain": (lambda b: b.drain(3), -3), "clear": (lambda b: b.clear(), None),
    "set-short": (lambda b: b.set(b"x"), None), "set-long": (lambda b: b.set(b"x" * 99), None),
}


def edit(body, report: dict) -> None:
    """The same-length edits, then each length-changing write (their errors in `report`)."""
    report["len"] = len(body)
    body.upper()
    body.translate(SWAP)
    body.set(bytes(body).replace(b"E", b"3"))
    body.lower()
    body.upper()
    body.append(b"")
    body.drain(0)
    for name, (write, _) in WRITES.items():
        try:
            write(body)
            report[name] = "passed"
        except EnvoyPyextError as e:
            report[name] = str(e)


class EditRequestInTrailers(Filter):
    def decode_data(self, buffer, end_stream):
        return None if end_stream else Status.STOP_AND_BUFFER

    def decode_trailers(self, trailers):
        self.report = {}
        edit(self.request_body, self.report)

    def encode_headers(self, headers, end_stream):
        headers["x-report"] = json.dumps(self.report)


class EditResponseInTrailers(Filter):
    def encode_data(self, buffer, end_stream):
        return None if end_stream else Status.STOP_AND_BUFFER

    def encode_trailers(self, trailers):
        report: dict = {}
        edit(self.response_body, report)
        trailers["x-report"] = json.dumps(report)


class UpperStreamedInTrailers(Filter):
    """No data hook: the body streamed through; the trailers hook's body is empty."""

    def decode_trailers(self, trailers):
        self.request_body.upper()
        trailers["x-upper"] = "ok"


def expected(body: bytes) -> bytes:
    return body.upper().translate(SWAP).replace(b"E", b"3").lower().upper()


def check_report(report: dict, side: str, hook: str, body: bytes) -> None:
    assert report["len"] == len(body)
    for name, (_, change) in WRITES.items():
        message = report[name]
        if change is None:
            change = {"clear": -len(body), "set-short": 1 - len(body),
                      "set-long": 99 - len(body)}[name]
        verb = "grow" if change > 0 else "shrink"
        assert message.startswith(f"the {side} body cannot {verb} ({change:+d} bytes) in "
                                  f"{hook}: its headers already went on with content-length"), \
            (name, message)


BODY = b"Hello, a body of some bytes: abc"


def test_same_length_edits_pass_in_decode_trailers():
    t = FilterTester(EditRequestInTrailers)
    r = t.request("POST", "/", headers={"content-length": str(len(BODY))}, body=BODY,
                  trailers={"x-t": "1"})
    assert r.client.status == 200
    assert r.upstream.body == expected(BODY)
    assert r.upstream.headers["content-length"] == str(len(BODY))
    check_report(json.loads(r.client.headers["x-report"]), "request", "decode_trailers", BODY)


def test_same_length_edits_pass_in_encode_trailers():
    t = FilterTester(EditResponseInTrailers,
                     upstream=(200, {"content-length": str(len(BODY))}, BODY, {"x-t": "1"}))
    r = t.request("GET", "/")
    assert r.client.status == 200
    assert r.client.body == expected(BODY)
    assert r.client.headers["content-length"] == str(len(BODY))
    check_report(json.loads(r.client.trailers["x-report"]), "response", "encode_trailers", BODY)


@pytest.mark.parametrize("chunks", [[b"ab", b"cd"], []])
def test_an_in_place_edit_of_a_streamed_body_passes_in_trailers(chunks):
    t = FilterTester(UpperStreamedInTrailers)
    body = b"".join(chunks)
    r = t.request("POST", "/", headers={"content-length": str(len(body))}, body=body,
                  trailers={"x-t": "1"})
    assert r.client.status == 200
    assert r.upstream.body == body                  # it had passed already: nothing to edit
    assert r.upstream.trailers["x-upper"] == "ok"
