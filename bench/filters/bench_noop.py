"""A filter that overrides no hook: Envoy still runs the dynamic-module filter for every stream,
but envoy-pyext never enters Python. bench/profile.py measures it as the floor of the
dynamic-module path itself (what Envoy's side costs before any Python runs)."""

from envoy_pyext import Filter


class Noop(Filter):
    pass
