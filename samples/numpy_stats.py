"""numpy over the body, without copying it: a request whose body is little-endian float32
samples (content-type application/x-float32) is checked and summarised before it goes
upstream. `memoryview(buffer)` is a zero-copy view of Envoy's memory when the body is one
slice; np.frombuffer makes an array over it, again without a copy.

- a body that is not whole samples, or holds NaN or infinity, gets 422;
- otherwise the upstream gets x-samples (count), x-samples-mean, x-samples-min,
  x-samples-max and x-body-adler32 (a checksum of the bytes).

The view is valid only while the hook runs: the array and the view are released before it
returns (the runtime counts and logs views that escape).

filter_config: the largest absolute value allowed (default: no limit).
"""

import math

import numpy as np

from envoy_pyext import Buffer, Filter, HeaderMap, Status

CONTENT_TYPE = "application/x-float32"


def adler32(data: np.ndarray) -> int:
    """Adler-32 of a uint8 array, vectorised (zlib.adler32 gives the same)."""
    mod = 65521
    a = 1
    b = 0
    for start in range(0, data.size, 5552):  # blocks small enough not to overflow uint64
        block = data[start:start + 5552].astype(np.uint64)
        n = block.size
        weights = np.arange(n, 0, -1, dtype=np.uint64)
        b = (b + n * a + int(block @ weights)) % mod
        a = (a + int(block.sum())) % mod
    return (b << 16) | a


class NumpyStats(Filter):
    @classmethod
    def parse_config(cls, raw: str) -> float:
        return float(raw) if raw else math.inf

    def decode_headers(self, headers: HeaderMap, end_stream: bool) -> Status | None:
        self.active = not end_stream and headers.get("content-type") == CONTENT_TYPE
        return Status.STOP_AND_BUFFER if self.active else None  # (then: the whole body once)

    def decode_data(self, buffer: Buffer, end_stream: bool) -> Status | None:
        if not self.active:
            return None  # another content type streams through
        view = memoryview(buffer)  # zero-copy when Envoy holds the body in one slice
        try:
            if len(view) % 4:
                return self._reject(f"{len(view)} bytes is not a whole number of float32")
            samples = np.frombuffer(view, dtype="<f4")
            raw = np.frombuffer(view, dtype=np.uint8)
            try:
                if samples.size and not np.isfinite(samples).all():
                    return self._reject("NaN or infinity in the samples")
                peak = float(np.abs(samples).max()) if samples.size else 0.0
                if peak > self.config:
                    return self._reject(f"a sample of {peak:g} exceeds {self.config:g}")
                h = self.request_headers  # still held: STOP_AND_BUFFER
                h["x-samples"] = samples.size
                if samples.size:
                    h["x-samples-mean"] = f"{float(samples.mean(dtype=np.float64)):.6g}"
                    h["x-samples-min"] = f"{float(samples.min()):.6g}"
                    h["x-samples-max"] = f"{float(samples.max()):.6g}"
                h["x-body-adler32"] = f"{adler32(raw):08x}"
            finally:
                del samples, raw  # no array may keep the view past the hook
        finally:
            view.release()
        return None

    def _reject(self, why: str) -> Status:
        return self.callbacks.send_local_reply(422, body=f"{why}\n",
                                               details="invalid_samples")
