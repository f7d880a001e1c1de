"""A set/add/remove sequence leaves the same header order in the upstream request whether the
hook ran inline on Envoy's map or pending on the runtime's shadow copy."""

import pytest

from .conftest import upstream_view
from .harness import EnvoyProcess

REQUEST = [("x-a", "1"), ("x-b", "2"), ("x-a", "3"), ("x-z", "z")]


@pytest.fixture(scope="module")
def envoy(upstream):
    with EnvoyProcess({"sync": ("filters.order:EditSync", ""),
                       "async": ("filters.order:EditAsync", "")}, upstream.port) as env:
        yield env


def _order(envoy, name):
    status, _, body = envoy.request(name, headers=REQUEST)
    assert status == 200, body
    return [(k, v) for k, v in upstream_view(body)["headers"]
            if k in ("x-a", "x-b", "x-c", "x-z")]


def test_same_order_inline_and_pending(envoy):
    inline = _order(envoy, "sync")
    assert inline == [("x-z", "z"), ("x-a", "new"), ("x-c", "added"), ("x-b", "again")]
    assert _order(envoy, "async") == inline
