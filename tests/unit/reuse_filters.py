"""Filters of test_reuse.py (loaded by name, like Envoy does)."""

import contextvars
import weakref

from envoy_pyext import Filter

seen: list = []       # what each stream's Filter found at its start
kept: list = []       # objects a filter hands out of its stream on purpose
VAR = contextvars.ContextVar("reuse_var", default="unset")


class Plain(Filter):
    """Records what the stream's Filter looked like when its first hook ran, then leaves
    state behind (an attribute, a context variable) for a later stream to find if it leaked."""

    def decode_headers(self, headers, end_stream):
        seen.append((id(self), sorted(vars(self)), VAR.get(), headers.get("x-n")))
        self.user = headers.get("x-n")
        VAR.set("set by " + str(self.user))

    def encode_headers(self, headers, end_stream):
        headers.add("x-user", self.user)


class WithInit(Plain):
    def __init__(self):
        self.inits = getattr(self, "inits", 0) + 1
        seen.append(("init", self.inits))


class KeepsSelf(Plain):
    def encode_headers(self, headers, end_stream):
        kept.append(self)


class KeepsWeakref(Plain):
    def encode_headers(self, headers, end_stream):
        kept.append(weakref.ref(self))


class KeepsHeaders(Plain):
    def encode_headers(self, headers, end_stream):
        kept.append(headers)


class HasDel(Plain):
    def __del__(self):
        pass


class HasSlots(Plain):
    __slots__ = ("extra",)


class HasNew(Plain):
    def __new__(cls):
        return super().__new__(cls)
