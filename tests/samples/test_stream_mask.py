from envoy_pyext.testing import FilterTester, Response
from samples.stream_mask import StreamMask

LINES = [b'{"from": "ann@example.com", "n": 1}\n', b'{"from": "bob@example.org", "n": 2}\n',
         b"no address here\n", b"last: carol@example.net"]


def test_masks_across_chunk_boundaries():
    body = b"".join(LINES)
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]  # splits addresses apart
    r = FilterTester(StreamMask).request(
        response=Response(200, {"content-type": "application/x-ndjson"}, chunks=chunks))
    assert r.client.body == (b'{"from": "[email]", "n": 1}\n{"from": "[email]", "n": 2}\n'
                             b"no address here\nlast: [email]")
    assert "content-length" not in r.client.headers


def test_with_content_length_and_config():
    r = FilterTester(StreamMask, "<hidden>").request(
        response=(200, {"content-type": "text/plain"}, b"mail me: x@y.io\n"))
    assert r.client.body == b"mail me: <hidden>\n" and "content-length" not in r.client.headers


def test_binary_passes():
    r = FilterTester(StreamMask).request(
        response=(200, {"content-type": "image/png"}, b"a@b.cd"))
    assert r.client.body == b"a@b.cd" and r.client.headers["content-length"] == "6"
