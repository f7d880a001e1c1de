"""The test upstream (harness.Upstream) stays quiet about clients that go away (Envoy
resetting a stream it was sending: test_errors, test_hangs) and still prints real errors."""

from __future__ import annotations

import socket

from .harness import Upstream, wait_for


def test_a_client_leaving_mid_body_is_counted_not_printed(capsys):
    with Upstream() as up:
        with socket.create_connection(("127.0.0.1", up.port)) as s:
            s.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                      b"4\r\nbody\r\n")
        wait_for(lambda: up.server.disconnects == 1, "the upstream saw the client leave")
        with socket.create_connection(("127.0.0.1", up.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab")
        # closed with an RST (linger 0): the upstream's read fails with ConnectionResetError
        wait_for(lambda: up.server.disconnects == 2, "the upstream saw the reset")
        assert up.received == []
    assert "Traceback" not in capsys.readouterr().err


def test_other_errors_are_still_printed(capsys):
    with Upstream() as up:
        with socket.create_connection(("127.0.0.1", up.port)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nx-upstream-status: nope\r\n\r\n")
            assert s.recv(100) == b""      # the handler failed: closed without an answer
        printed = []

        def whole_report() -> bool:     # socketserver frames it with two lines of dashes
            printed.append(capsys.readouterr().err)
            return "".join(printed).count("-" * 40) == 2

        wait_for(whole_report, "the traceback")
    err = "".join(printed)
    assert "Exception occurred during processing of request" in err
    assert "ValueError: invalid literal for int() with base 10: 'nope'" in err
    assert up.server.disconnects == 0
