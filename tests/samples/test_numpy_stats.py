import zlib

import numpy as np

from envoy_pyext.testing import FilterTester
from samples.numpy_stats import CONTENT_TYPE, NumpyStats, adler32

HEADERS = {"content-type": CONTENT_TYPE}


def test_summarises_the_samples():
    samples = np.array([1.5, -2.0, 4.0, 0.5], dtype="<f4")
    body = samples.tobytes()
    r = FilterTester(NumpyStats).request("POST", "/", headers=HEADERS,
                                         chunks=[body[:5], body[5:]])
    h = r.upstream.headers
    assert (h["x-samples"], h["x-samples-mean"], h["x-samples-min"], h["x-samples-max"]) == \
        ("4", "1", "-2", "4")
    assert h["x-body-adler32"] == f"{zlib.adler32(body):08x}"
    assert r.upstream.body == body


def test_rejects_bad_payloads():
    t = FilterTester(NumpyStats, "10")
    for body, why in [(b"\x00" * 7, b"7 bytes is not a whole number of float32"),
                      (np.array([1, np.nan], dtype="<f4").tobytes(), b"NaN or infinity"),
                      (np.array([1, 11], dtype="<f4").tobytes(), b"a sample of 11 exceeds 10")]:
        r = t.request("POST", "/", headers=HEADERS, body=body)
        assert r.client.status == 422 and why in r.client.body and r.upstream is None


def test_other_content_types_pass():
    r = FilterTester(NumpyStats).request("POST", "/", body=b"abc")
    assert r.upstream.body == b"abc" and "x-samples" not in r.upstream.headers


def test_adler32_matches_zlib():
    data = np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8)
    assert adler32(data) == zlib.adler32(data.tobytes())
