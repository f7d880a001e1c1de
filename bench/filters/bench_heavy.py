"""The scaling benchmark's Python-heavy header filter (bench/scaling.py): per request, parse a
JSON document (the policy, as a filter reading a token or a body would) and run a few regular
expressions over the request headers, then set ``x-seen``. About 50 µs of pure-Python work on
the reference machine (scaling.py measures it in-process and prints it).

``x-probe: 1`` answers, instead, a local reply naming the interpreter (the run checks that the
per_worker rows really ran in sub-interpreters)."""

import json
import re

import envoy_pyext
from envoy_pyext import Filter

# A policy document of a few KiB: parsed on every request on purpose (the Python work).
DOC = json.dumps({"rules": [{"id": i, "path": f"/api/v{i % 3}/items/{i}",
                             "methods": ["GET", "POST"] if i % 2 else ["GET"],
                             "roles": [f"role-{j}" for j in range(i % 5)],
                             "limits": {"rps": i * 10, "burst": i}}
                            for i in range(20)]})
PATTERNS = [re.compile(p) for p in (r"^[a-z-]+$", r"\d{3,}", r"(?i)bearer\s+(\S+)",
                                    r"^/api/v(\d)/", r"[^\x20-\x7e]")]


def work(headers: list[tuple[str, str]]) -> int:
    """The per-request work (also timed alone by scaling.py)."""
    policy = json.loads(DOC)
    hits = 0
    for name, value in headers:
        for p in PATTERNS:
            if p.search(name) or p.search(value):
                hits += 1
    for rule in policy["rules"]:
        if rule["limits"]["rps"] > hits:
            hits += len(rule["roles"])
    return hits


class Heavy(Filter):
    def decode_headers(self, headers, end_stream):
        if headers.get("x-probe") == "1":
            return self.callbacks.send_local_reply(200, body=json.dumps({
                "subinterpreter": envoy_pyext.in_subinterpreter()}).encode())
        headers["x-seen"] = str(work(list(headers.items())))
