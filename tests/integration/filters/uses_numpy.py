"""A filter whose module imports numpy (refused with interpreter: per_worker)."""

import numpy  # noqa: F401

from envoy_pyext import Filter


class UsesNumpy(Filter):
    pass
