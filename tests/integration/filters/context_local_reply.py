"""A filter watching local replies (tests/integration/test_context_local_reply.py)."""

import json

from envoy_pyext import Filter, Status


class Watch(Filter):
    """Records every local reply (and logs it); x-answer: 1 answers 403 itself; x-reset: 1
    resets instead of any local reply; x-raise: 1 makes on_local_reply raise; x-bad-status: 1
    returns Status.RESET from decode_headers (an error). What on_local_reply saw goes out in
    x-local-replies."""

    replies = None

    def decode_headers(self, headers, end_stream):
        self.flags = {k: headers.get(k) == "1" for k in ("x-reset", "x-raise")}
        self.replies = []
        if headers.get("x-bad-status") == "1":
            return Status.RESET
        if headers.get("x-answer") == "1":
            return self.callbacks.send_local_reply(403, b"no\n", details="denied by python")
        return None

    def on_local_reply(self, status_code, details, reset_imminent):
        self.replies.append([status_code, details, reset_imminent])
        # The filter's own reply skips its encode_headers: the log shows what it saw.
        self.callbacks.log("info", f"local reply seen: {status_code} {details} "
                                   f"{reset_imminent}")
        if self.flags["x-raise"]:
            raise RuntimeError("on_local_reply failed")
        if self.flags["x-reset"]:
            return Status.RESET
        return None

    def encode_headers(self, headers, end_stream):
        headers["x-local-replies"] = json.dumps(self.replies)
