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


class Noted:
    """A value that notes when it is freed (the reused Filter must not keep it)."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return f"Noted({self.n})"

    def __del__(self):
        seen.append(("freed", self.n))


class InlineAttrs(Filter):
    """Attributes stored the way CPython keeps them for a new object (inline values, no
    __dict__ made): a later stream must find none of them, in any order they were set or
    deleted. Stream 2 looks at vars(self) (which makes the __dict__) only at its end."""

    def decode_headers(self, headers, end_stream):
        n = int(headers.get("x-n"))
        seen.append((id(self), n, getattr(self, "a", "unset"), getattr(self, "b", "unset"),
                     getattr(self, "c", "unset")))
        if n % 2 == 0:
            self.a = Noted(n)
            self.b = n
        else:
            self.c = Noted(n)
            self.b = n
            del self.b
        self.user = str(n)

    def encode_headers(self, headers, end_stream):
        if self.user == "2":
            seen.append(("vars", list(vars(self))))
        headers.add("x-user", self.user)


class ManyAttrs(Filter):
    """More attribute names than a class's shared key table holds (30): the rest go to a
    dictionary; both are emptied."""

    def decode_headers(self, headers, end_stream):
        n = headers.get("x-n")
        seen.append((id(self), [k for k in range(40) if hasattr(self, f"attr{k}")]))
        for k in range(40):
            setattr(self, f"attr{k}", n)
        self.user = n

    def encode_headers(self, headers, end_stream):
        headers.add("x-user", self.user)
