import json

import pytest

from .harness import SO_PATH, Upstream


def pytest_collection_modifyitems(config, items):
    if not SO_PATH.exists():
        for item in items:
            if "integration" in str(item.fspath):
                item.add_marker(pytest.mark.skip(
                    reason=f"{SO_PATH} not built (make build-so-local)"))


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def side():
    """A second upstream, for tests that re-route (test_context_routing, _control)."""
    with Upstream() as up:
        yield up


def upstream_view(body: bytes) -> dict:
    """The upstream's JSON description of the request it received."""
    data = json.loads(body)
    data["h"] = {}
    for k, v in data["headers"]:
        data["h"].setdefault(k, []).append(v)
    return data
