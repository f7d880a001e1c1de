from envoy_pyext import Filter


class Broken(Filter):
    def decode_headers(self, headers, end_stream)
        return None
