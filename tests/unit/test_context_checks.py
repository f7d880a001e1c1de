"""The load-time hook checks (envoy_pyext._checks) know on_local_reply."""

from envoy_pyext import Filter, Status
from envoy_pyext._checks import problems


def test_a_correct_on_local_reply_passes():
    class F(Filter):
        def on_local_reply(self, status_code, details, reset_imminent):
            return Status.RESET if status_code == 404 else None

    assert problems(F) == []


def test_async_on_local_reply_is_refused():
    class F(Filter):
        async def on_local_reply(self, status_code, details, reset_imminent):
            return None

    (problem,) = problems(F)
    assert "on_local_reply" in problem and "async def" in problem


def test_wrong_arity_is_refused():
    class F(Filter):
        def on_local_reply(self, status_code):
            return None

    (problem,) = problems(F)
    assert "cannot take the runtime's arguments" in problem


def test_a_misspelling_is_pointed_out():
    class F(Filter):
        def on_localreply(self, status_code, details, reset_imminent):
            return None

    (problem,) = problems(F)
    assert "did you mean 'on_local_reply'" in problem
