# cython: language_level=3
"""The benchmark's header filter compiled with Cython: the same source as bench_add_header.py,
a normal Python class subclassing envoy_pyext.Filter through a normal import. bench/run.py
cythonizes it into bench/build/cy/, which is on the PYTHONPATH given to Envoy."""

from envoy_pyext import Filter


class AddHeader(Filter):
    def decode_headers(self, headers, end_stream):
        self.user = headers.get("x-user", "anonymous")
        headers["x-seen"] = "1"

    def encode_headers(self, headers, end_stream):
        headers.add("x-filter", self.user)
