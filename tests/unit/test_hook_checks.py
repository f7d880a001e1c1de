"""Hook checks at configuration load (envoy_pyext/_checks.py), here through FilterTester, which
runs the same checks as Envoy (tests/integration/test_hook_checks.py)."""

from __future__ import annotations

import pytest

from envoy_pyext import FilterConfigError
from envoy_pyext._checks import looks_like, problems
from envoy_pyext.testing import FilterTester

from . import hook_mistakes as hm


@pytest.mark.parametrize("name,hook", [
    ("decode_header", "decode_headers"), ("encode_header", "encode_headers"),
    ("decode_trailer", "decode_trailers"), ("DecodeHeaders", "decode_headers"),
    ("on_logs", "on_log"), ("on_destory", "on_destroy"), ("parseconfig", "parse_config"),
    ("decode_body", "decode_data"), ("on_request_headers", "decode_headers"),
    ("on_http_response_body", "encode_data"), ("on_stream_complete", "on_log"),
])
def test_misspellings_are_recognised(name, hook):
    assert looks_like(name) == hook


@pytest.mark.parametrize("name", ["decode_json", "encode_token", "on_close", "log",
                                  "_decode_header", "decode_headers", "helper"])
def test_other_names_are_not(name):
    assert looks_like(name) is None


@pytest.mark.parametrize("cls,message", [
    (hm.Misspelled, "method 'decode_header' (" ),
    (hm.Misspelled, "is not a hook and would never be called; did you mean 'decode_headers'? "
                    "(if it is a helper, list it in not_hooks = {'decode_header'} on the class)"),
    (hm.CamelCase, "did you mean 'decode_headers'"),
    (hm.OtherFramework, "did you mean 'decode_headers'"),
    (hm.WrongSignature, "hook decode_headers(self, headers)"),
    (hm.WrongSignature, "cannot take the runtime's arguments (self, headers, end_stream): "
                        "too many positional arguments"),
    (hm.TooManyRequired, "hook on_log(self, stream)"),
    (hm.KeywordOnly, "encode_data(self, buffer, *, end_stream)"),
    (hm.Generator, "hook decode_headers"),
    (hm.Generator, "is a generator function"),
    (hm.AsyncGenerator, "is a generator function"),
    (hm.NotCallable, "hook decode_data is not callable"),
    (hm.ParseConfigNotClassmethod, "(is @classmethod missing?)"),
    (hm.InitWithArguments, "__init__(self, config)"),
    (hm.InitWithArguments, "must take no arguments besides self"),
])
def test_mistakes_are_refused_with_the_reason(cls, message):
    with pytest.raises(FilterConfigError) as info:
        FilterTester(cls)
    text = str(info.value)
    del info
    assert message in text
    assert "the filter class is refused" in text


def test_the_location_is_named():
    (p,) = problems(hm.Misspelled)
    assert f"{hm.__file__}:" in p


def test_every_problem_is_listed():
    found = problems(hm.Several)
    assert len(found) == 3
    assert any("decode_header" in p for p in found)
    assert any("on_destory" in p and "on_destroy" in p for p in found)
    assert any("encode_headers(self)" in p for p in found)


def test_accepted_shapes():
    assert problems(hm.Fine) == []
    assert problems(hm.MisspelledAllowed) == []
    FilterTester(hm.Fine).request()


def test_a_bad_not_hooks_is_reported():
    class Bad(hm.Fine):
        not_hooks = 5
    assert any("not_hooks must be a set" in p for p in problems(Bad))
