"""Which code a filter configuration runs (envoy_pyext._loader), through the real config hooks:
inline source, `package.module:Class` loaded again when its files change, old versions freed
at once when their last configuration and stream are gone, and the development watcher."""

import gc
import hashlib
import json
import logging
import os
import sys
import textwrap
import time
import weakref

import pytest

import envoy_pyext
from envoy_pyext import _loader

from tests.fakehost.driver import HT_REQUEST_HEADERS, Config, Stream, logs

V1 = '''
from envoy_pyext import Filter

class Versioned(Filter):
    def decode_headers(self, headers, end_stream):
        headers["x-version"] = "1"
        headers["x-config"] = self.config
'''


def header(cfg, name=b"x-version"):
    """The value `name` gets on a request through `cfg` (None if unset)."""
    with Stream(cfg) as s:
        s.request_headers(True)
        return dict(s.headers(HT_REQUEST_HEADERS)).get(name)


def inline(label, source, **more):
    return Config(label, json.dumps({"source": source, **more}))


def last_log(text):
    return next((m for _, m in reversed(logs()) if text in m), None)


# ---- inline source ------------------------------------------------------------------------------

def test_inline_source_runs_with_json_config():
    cfg = inline("inl-basic", V1, config={"b": [1, "x"], "a": 1})
    assert cfg.ptr
    assert header(cfg) == b"1"
    assert json.loads(header(cfg, b"x-config")) == {"a": 1, "b": [1, "x"]}
    cfg.destroy()


def test_inline_string_config_is_passed_as_is_and_default_is_empty():
    cfg = inline("inl-str", V1, config="plain text")
    assert header(cfg, b"x-config") == b"plain text"
    cfg.destroy()
    cfg = inline("inl-str", V1)
    with Stream(cfg) as s:
        s.request_headers(True)   # headers["x-config"] = "" raises (empty values are refused)
    assert last_log("inl-str.decode_headers raised")
    cfg.destroy()


def test_inline_class_by_name_and_the_one_class_rule():
    two = V1 + "\nclass Other(Versioned):\n    pass\n"
    cfg = Config("inl-two", json.dumps({"source": two}))
    assert cfg.ptr is None
    assert "defines 2 Filter subclasses (Versioned, Other); name the one to run with 'class'" \
        in last_log("inl-two")
    cfg = Config("inl-two", json.dumps({"source": two, "class": "Other", "config": "c"}))
    assert header(cfg) == b"1"
    cfg.destroy()
    cfg = Config("inl-two", json.dumps({"source": two, "class": "Nope"}))
    assert cfg.ptr is None and "defines no 'Nope'" in last_log("inl-two")
    cfg = Config("inl-two", json.dumps({"source": "X = 1\n", "class": "X"}))
    assert cfg.ptr is None and "is not a subclass of envoy_pyext.Filter" in last_log("inl-two")


def test_inline_module_has_its_own_name_globals_and_traceback_lines():
    src = textwrap.dedent('''
        from envoy_pyext import Filter
        COUNT = 0

        class Boom(Filter):
            def decode_headers(self, headers, end_stream):
                global COUNT
                COUNT += 1
                headers["x-module"] = __name__
                raise ValueError("boom in inline code")
    ''')
    cfg = inline("inl-tb", src, config="c")
    with Stream(cfg) as s:
        s.request_headers(True)
        assert dict(s.headers(HT_REQUEST_HEADERS))[b"x-module"] == b"inline:inl-tb"
    message = last_log("inl-tb.decode_headers raised")
    digest = hashlib.sha256(src.encode()).hexdigest()
    assert f'File "<inline:inl-tb@{digest[:12]}>", line 10, in decode_headers' in message
    assert 'raise ValueError("boom in inline code")' in message   # the line, from linecache
    assert sys.modules["inline:inl-tb"].COUNT == 1
    cfg.destroy()


def test_inline_syntax_error_is_refused_with_file_and_line():
    cfg = inline("inl-syntax", "from envoy_pyext import Filter\n\ndef broken(:\n    pass\n")
    assert cfg.ptr is None
    message = last_log("inl-syntax")
    assert "cannot load filter 'inline:inl-syntax': syntax error in <inline:inl-syntax@" in message
    assert ">:3:" in message and "def broken(:" in message


def test_inline_source_raising_at_import_is_refused():
    cfg = inline("inl-raise", "raise RuntimeError('not today')\n")
    assert cfg.ptr is None
    assert "RuntimeError: not today" in last_log("inl-raise")
    assert "inline:inl-raise" not in sys.modules


def test_inline_sha256_pins_the_source():
    digest = hashlib.sha256(V1.encode()).hexdigest()
    cfg = inline("inl-pin", V1, sha256=digest.upper(), config="c")
    assert header(cfg) == b"1"
    cfg.destroy()
    cfg = inline("inl-pin", V1.replace('"1"', '"2"'), sha256=digest, config="c")
    assert cfg.ptr is None
    assert (f"the inline source does not match its pinned sha256: the configuration says "
            f"{digest}, the source hashes to") in last_log("inl-pin")
    cfg = inline("inl-pin", V1, sha256="abc")
    assert cfg.ptr is None and "'sha256' must be 64 hex digits" in last_log("inl-pin")


@pytest.mark.parametrize("name,config,message", [
    ("bad label!", '{"source": ""}', "must name a class as 'package.module:ClassName', or be a "
                                     "label"),
    ("inl-none", '{"config": 1}', "its filter_config is not such a Struct"),
    ("inl-none", "not json", "its filter_config is not such a Struct"),
    ("inl-keys", '{"source": "", "reload": true}', "unknown key(s) 'reload' in the filter_config "
                                                   "of inline source"),
    ("inl-keys", '{"class": "a.b:C", "sha256": ""}', "unknown key(s) 'sha256'"),
    ("inl-keys", '{"class": "NoColon"}', "without 'source', 'class' must name a class as"),
    ("inl-keys", '{"source": 1}', "'source' must be a string"),
    ("inl-keys", '{"class": "tests.unit.filters:HeadersOnly", "reload": "yes"}',
     "'reload' must be true or false"),
])
def test_bad_envelopes_are_refused(name, config, message):
    assert Config(name, config).ptr is None
    assert any(message in m for _, m in logs()), logs()[-2:]


def test_module_class_through_the_envelope():
    cfg = Config("env-mod", json.dumps({"class": "tests.unit.filters:HeadersOnly",
                                        "config": {"x": 1}}))
    assert header(cfg, b"x-seen") == b"1"
    cfg.destroy()


# ---- versions -----------------------------------------------------------------------------------

def test_same_inline_source_keeps_its_module_a_new_one_replaces_it_and_the_old_is_freed():
    base = envoy_pyext.stats()
    a = inline("inl-ver", V1, config="c")
    b = inline("inl-ver", V1, config="other")        # same code: same module, same state
    assert envoy_pyext.stats()["code_loads"] == base["code_loads"] + 1
    first = weakref.ref(sys.modules["inline:inl-ver"])
    c = inline("inl-ver", V1.replace('"1"', '"2"'), config="c")
    assert envoy_pyext.stats()["code_loads"] == base["code_loads"] + 2
    assert header(a) == b"1" and header(b) == b"1" and header(c) == b"2"
    s = Stream(a)                       # an in-flight stream of the old version
    s.request_headers(False)
    a.destroy()
    b.destroy()
    assert first() is not None          # the stream still runs on it
    assert dict(s.headers(HT_REQUEST_HEADERS))[b"x-version"] == b"1"
    s.destroy()
    assert first() is None              # freed with its last stream, without a later GC pass
    assert envoy_pyext.stats()["unreleased_modules"] == 0
    c.destroy()
    after = envoy_pyext.stats()
    assert after["code_versions"] == base["code_versions"] + 1    # the current one stays
    assert after["live_configs"] == base["live_configs"]


def write(path, text):
    """Writes a file as an editor might: in place, the same second, often the same size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


MODULE = '''
from envoy_pyext import Filter
from . import helper

STATE = []

class Versioned(Filter):
    @classmethod
    def parse_config(cls, raw):
        STATE.append(raw)
        return raw

    def decode_headers(self, headers, end_stream):
        headers["x-version"] = "{v}"
        headers["x-helper"] = helper.NAME
        headers["x-state"] = str(len(STATE))
'''


@pytest.fixture
def package(tmp_path, monkeypatch, request):
    """A fresh package on sys.path: <name>/__init__.py, <name>/flt.py, <name>/helper.py."""
    name = "reloadpkg_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    monkeypatch.syspath_prepend(str(tmp_path))
    write(tmp_path / name / "__init__.py", "")
    write(tmp_path / name / "helper.py", "NAME = 'h1'\n")
    write(tmp_path / name / "flt.py", MODULE.format(v=1))
    yield name, tmp_path / name
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def test_module_loaded_again_only_when_its_files_changed(package):
    name, root = package
    base = envoy_pyext.stats()
    a = Config(f"{name}.flt:Versioned", "a")
    assert header(a) == b"1" and header(a, b"x-state") == b"1"
    b = Config(f"{name}.flt:Versioned", "b")        # unchanged: same module, state kept
    assert header(b, b"x-state") == b"2"
    assert envoy_pyext.stats()["code_loads"] == base["code_loads"] + 1
    old = weakref.ref(sys.modules[f"{name}.flt"])
    old_helper = weakref.ref(sys.modules[f"{name}.helper"])
    write(root / "flt.py", MODULE.format(v=2))      # same size, same second
    c = Config(f"{name}.flt:Versioned", "c")
    assert header(c) == b"2" and header(c, b"x-state") == b"1"   # a new module, new state
    assert header(a) == b"1" and header(b) == b"1"                 # the old configs: old code
    assert sys.modules[f"{name}.flt"] is not old()
    write(root / "helper.py", "NAME = 'h2'\n")      # a sibling module changed: a new version
    d = Config(f"{name}.flt:Versioned", "d")
    assert header(d, b"x-helper") == b"h2" and header(c, b"x-helper") == b"h1"
    a.destroy()
    assert old() is not None                         # b still uses it
    b.destroy()
    assert old() is None and old_helper() is None    # freed at once
    c.destroy()
    d.destroy()
    assert envoy_pyext.stats()["unreleased_modules"] == 0


def test_a_broken_change_is_refused_and_the_old_module_stays(package):
    name, root = package
    a = Config(f"{name}.flt:Versioned", "a")
    current = sys.modules[f"{name}.flt"]
    write(root / "flt.py", "def broken(:\n")
    assert Config(f"{name}.flt:Versioned", "b").ptr is None
    message = last_log(f"cannot load filter '{name}.flt:Versioned': syntax error in")
    assert f"{root / 'flt.py'}:1:" in message
    assert sys.modules[f"{name}.flt"] is current     # sys.modules restored
    assert sys.modules[f"{name}.helper"].NAME == "h1"
    assert header(a) == b"1"
    write(root / "flt.py", MODULE.format(v=3))
    b = Config(f"{name}.flt:Versioned", "b")
    assert header(b) == b"3"
    a.destroy()
    b.destroy()


def test_module_level_state_held_elsewhere_is_reported(package, caplog):
    name, root = package
    a = Config(f"{name}.flt:Versioned", "a")
    keep = sys.modules[f"{name}.flt"]               # something outside keeps the old module
    write(root / "flt.py", MODULE.format(v=2))
    b = Config(f"{name}.flt:Versioned", "b")
    a.destroy()
    assert envoy_pyext.stats()["unreleased_modules"] == 2   # it, and the helper it imported
    assert (f"still referenced after their last configuration and stream were freed: "
            f"{name}.flt, {name}.helper") in caplog.text
    del keep
    gc.collect()    # (its globals form cycles: freed by the collector once nothing holds them)
    assert envoy_pyext.stats()["unreleased_modules"] == 0
    b.destroy()


# ---- development reload -------------------------------------------------------------------------

def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_reload_watches_the_files_and_keeps_the_last_good_code(package, monkeypatch, caplog):
    name, root = package
    monkeypatch.setenv(_loader.RELOAD_INTERVAL_VAR, "0.05")
    cfg = Config("dev", json.dumps({"class": f"{name}.flt:Versioned", "reload": True,
                                    "config": "c"}))
    assert header(cfg) == b"1"
    inflight = Stream(cfg)
    inflight.request_headers(False)
    write(root / "flt.py", MODULE.format(v=2))
    wait_for(lambda: header(cfg) == b"2")
    assert "dev: reloaded (code version 2)" in caplog.text
    write(root / "flt.py", MODULE.format(v=3).replace("def decode_headers(self,", "def x(:"))
    wait_for(lambda: "dev: reload failed; the previous code keeps serving" in caplog.text)
    assert f"{root / 'flt.py'}:13:" in caplog.text
    assert header(cfg) == b"2"
    write(root / "flt.py", MODULE.format(v=4))
    wait_for(lambda: header(cfg) == b"4")
    assert dict(inflight.headers(HT_REQUEST_HEADERS))[b"x-version"] == b"1"
    inflight.destroy()
    cfg.destroy()


def test_reload_env_var_and_launcher_helper(package, monkeypatch, caplog):
    from envoy_pyext import launcher
    env = launcher.reload_env({"PATH": "/bin"}, interval=0.05)
    assert env == {"PATH": "/bin", "ENVOY_PYEXT_RELOAD": "1", "ENVOY_PYEXT_RELOAD_INTERVAL": "0.05"}
    name, root = package
    caplog.set_level(logging.INFO, "envoy_pyext")
    monkeypatch.setenv(_loader.RELOAD_VAR, "1")
    cfg = Config(f"{name}.flt:Versioned", "c")
    assert cfg.ptr and f"{name}.flt:Versioned: watching its source files" in caplog.text
    write(root / "flt.py", MODULE.format(v=5))
    wait_for(lambda: header(cfg) == b"5")
    cfg.destroy()
    assert os.environ.get(_loader.RELOAD_VAR) == "1"


# ---- interpreter: the option beside the filter's own config (docs/design.md "Interpreters") --

@pytest.mark.parametrize("filter_config, expected", [
    ('{"class": "samples.add_header:AddHeader"}', "shared"),
    ('{"class": "samples.add_header:AddHeader", "interpreter": "shared"}', "shared"),
    ('{"class": "samples.add_header:AddHeader", "interpreter": "per_worker"}', "per_worker"),
    ('{"source": "x = 1", "interpreter": "per_worker"}', "per_worker"),
])
def test_interpreter_option(filter_config, expected):
    assert _loader.interpreter_of("label", filter_config) == expected


def test_a_module_class_name_is_always_the_shared_interpreter():
    # Its whole filter_config is parse_config's: there is no place for the option.
    assert _loader.interpreter_of("samples.add_header:AddHeader",
                                  '{"interpreter": "per_worker"}') == "shared"


@pytest.mark.parametrize("filter_config, message", [
    ('{"class": "a.b:C", "interpreter": "threads"}',
     "'interpreter' must be one of 'shared', 'per_worker' (got 'threads')"),
    ('{"class": "a.b:C", "interpreter": 1}', "(got 1)"),
    ('{"class": "a.b:C", "interpreter": "per_worker", "reload": true}',
     "'reload' is not available with interpreter 'per_worker'"),
])
def test_bad_interpreter_options_are_refused(filter_config, message):
    with pytest.raises(envoy_pyext.FilterConfigError) as e:
        _loader.interpreter_of("label", filter_config)
    assert message in str(e.value)
