"""Filter classes with hook mistakes (tests/unit/test_hook_checks.py, test_cli.py, and the
integration test that Envoy refuses them)."""

from __future__ import annotations

from envoy_pyext import Filter


class Misspelled(Filter):
    def decode_header(self, headers, end_stream):  # should be decode_headers
        headers["x-never"] = "1"


class MisspelledAllowed(Filter):
    not_hooks = {"decode_header"}

    def decode_header(self, value):  # a helper on purpose
        return value


class CamelCase(Filter):
    def DecodeHeaders(self, headers, end_stream):
        pass


class OtherFramework(Filter):
    def on_request_headers(self, headers, end_stream):
        pass


class WrongSignature(Filter):
    def decode_headers(self, headers):  # the runtime passes (headers, end_stream)
        pass


class TooManyRequired(Filter):
    def on_log(self, stream):
        pass


class KeywordOnly(Filter):
    def encode_data(self, buffer, *, end_stream):
        pass


class Generator(Filter):
    def decode_headers(self, headers, end_stream):
        yield


class AsyncGenerator(Filter):
    async def encode_headers(self, headers, end_stream):
        yield


class NotCallable(Filter):
    decode_data = "not a function"


class ParseConfigNotClassmethod(Filter):
    def parse_config(self, raw):
        return raw


class InitWithArguments(Filter):
    def __init__(self, config):
        self.c = config


class Fine(Filter):
    """Every accepted shape: defaults, *args, async, staticmethod parse_config, switched off."""

    decode_trailers = None

    def decode_headers(self, headers, end_stream=False, extra=None):
        pass

    async def encode_headers(self, *args):
        pass

    def encode_data(self, buffer, end_stream, /):
        pass

    def on_log(self):
        pass

    @staticmethod
    def parse_config(raw):
        return raw

    def _decode_header(self):  # private helpers are never taken for hooks
        pass

    def decode_json(self, text):  # not close to a hook name
        return text


class Several(Filter):
    def decode_header(self, h, e):
        pass

    def on_destory(self):
        pass

    def encode_headers(self):
        pass
