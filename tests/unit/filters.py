"""Filters used by the unit tests (loaded by name, like Envoy does)."""

from envoy_pyext import Filter, Status

captured: list = []


class Capture(Filter):
    """Keeps itself so the test can use its views after the hook."""

    def decode_headers(self, headers, end_stream):
        captured.append(self)


class CaptureHolding(Filter):
    """Keeps itself and holds the request (STOP_AND_BUFFER): its body may be written."""

    def decode_headers(self, headers, end_stream):
        captured.append(self)
        return Status.STOP_AND_BUFFER


class HeadersOnly(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-seen"] = "1"


class NothingOverridden(Filter):
    pass


class Buffering(Filter):
    calls: list = []

    def decode_data(self, buffer, end_stream):
        Buffering.calls.append((bytes(buffer), end_stream))
        if not end_stream:
            return Status.STOP_AND_BUFFER
        buffer.set(bytes(buffer).upper())


class Raises(Filter):
    def decode_headers(self, headers, end_stream):
        raise ValueError("unit boom")

    def encode_headers(self, headers, end_stream):
        raise ValueError("unit boom response")


class RaisesInResponseBody(Filter):
    def encode_data(self, buffer, end_stream):
        raise ValueError("unit boom response body")


class RaisesOpen(Raises):
    fail_open = True


class Replies(Filter):
    def decode_headers(self, headers, end_stream):
        return self.callbacks.send_local_reply(403, body=b"no", headers={"x-a": "b"})


class Returns(Filter):
    """Returns the status named by the filter config from every hook."""

    @classmethod
    def parse_config(cls, raw):
        return Status[raw]

    def decode_headers(self, headers, end_stream):
        return self.config

    def decode_data(self, buffer, end_stream):
        return self.config


class Running(Filter):
    """Returns RUNNING; the test plays the worker thread's part."""

    def decode_headers(self, headers, end_stream):
        captured.append(self)
        return Status.RUNNING


hook_ops: list = []       # what HookOps does inside decode_headers: (op, name[, value])
hook_results: list = []   # what its reads returned, in order


class HookOps(Filter):
    """Runs hook_ops on the request headers inside the hook (where a view may reuse what one
    walk over the map told it), then sets x-late in decode_data, a later hook."""

    def decode_headers(self, headers, end_stream):
        hook_results.clear()
        for op, name, *value in hook_ops:
            if op == "get":
                hook_results.append(headers.get(name))
            elif op == "in":
                hook_results.append(name in headers)
            elif op == "set":
                headers[name] = value[0]
            elif op == "add":
                headers.add(name, value[0])
            else:
                headers.remove(name)

    def decode_data(self, buffer, end_stream):
        self.request_headers["x-late"] = "2"
