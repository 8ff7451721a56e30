#!/usr/bin/env python3
"""A grpcio client for cancelkit's hash_name.HashFinder, used by test/interop/python-grpcio.test.ts.

It generates the stubs at run time from proto/hash_name/hash_name.proto into a temp dir (protoc with
grpc_python_plugin, Debian's way; grpc_tools.protoc when that is installed instead), runs ONE scenario against
--server HOST:PORT and prints ONE JSON line. An RPC that ends with a status is a result, printed as
{"code": NAME, "details": ...}, and the exit status is 0; the exit status is 2 when the probe itself cannot run
(no protoc, stub generation failed, bad arguments). Needs only grpcio and protobuf.

Scenarios:
  find NAME IDEAL                      -> secret, hashed_name, hamming_distance
  find-range NAME IDEAL INTERESTING    -> count, first five secrets, last secret and distance
  cancel [--delay-ms N]                -> starts Find for a name that never matches with stub.Find.future(),
                                          waits for a line "go" on stdin (or N ms), cancels, prints the code
  deadline MS                          -> Find that never matches with timeout=MS/1000, prints the code
  invalid                              -> Find with an empty name, prints the code and details
"""
import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))
PROTO_FILE = "hash_name/hash_name.proto"
# NUL is not a base64 character, so no hash ever matches: the search runs until it is stopped.
NEVER = "\u0000\u0000\u0000\u0000"
# A hung server must not hang the test run forever; the node test kills us well before this anyway.
SAFETY_TIMEOUT_S = 120


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def generate_stubs(out_dir):
    """Writes hash_name/hash_name_pb2{,_grpc}.py under out_dir (never under a top-level grpc/: it would
    shadow grpcio)."""
    args = ["-I", PROTO_ROOT, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, PROTO_FILE]
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        done = subprocess.run([protoc, "--plugin=protoc-gen-grpc_python=" + plugin] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if done.returncode != 0:
            fail("protoc failed: " + done.stderr)
        return
    try:
        from grpc_tools import protoc as grpc_tools_protoc  # pip's grpcio-tools; Debian does not ship it
    except ImportError:
        fail("need protoc and grpc_python_plugin (apt-get install protobuf-compiler protobuf-compiler-grpc) "
             "or grpcio-tools")
    if grpc_tools_protoc.main(["protoc"] + args) != 0:
        fail("grpc_tools.protoc failed")


def load_stubs():
    out_dir = tempfile.mkdtemp(prefix="cancelkit-pystubs-")
    try:
        generate_stubs(out_dir)
        sys.path.insert(0, out_dir)
        # Modules are loaded into memory here, so the directory can go right away.
        pb2 = importlib.import_module("hash_name.hash_name_pb2")
        pb2_grpc = importlib.import_module("hash_name.hash_name_pb2_grpc")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return pb2, pb2_grpc


def status_of(error):
    """The status an RPC ended with, as printed JSON fields."""
    code = error.code()
    return {"code": code.name if code is not None else None, "details": error.details()}


def elapsed_ms(start):
    return round((time.monotonic() - start) * 1000, 1)


def run_find(stub, pb2, options):
    request = pb2.HashNameRequest(desired_name=options.name, ideal_hamming_distance=options.ideal)
    try:
        res = stub.Find(request, timeout=SAFETY_TIMEOUT_S)
    except grpc.RpcError as error:
        return status_of(error)
    return {"code": "OK", "secret": res.secret, "hashed_name": res.hashed_name,
            "hamming_distance": res.hamming_distance}


def run_find_range(stub, pb2, options):
    request = pb2.HashNameRequest(desired_name=options.name, ideal_hamming_distance=options.ideal,
                                  interesting_hamming_distance=options.interesting)
    secrets = []
    last = None
    result = {"code": "OK"}
    try:
        for res in stub.FindRange(request, timeout=SAFETY_TIMEOUT_S):
            secrets.append(res.secret)
            last = res
    except grpc.RpcError as error:
        result = status_of(error)
    result.update({"count": len(secrets), "first_five": secrets[:5],
                   "last": None if last is None else {"secret": last.secret,
                                                      "hamming_distance": last.hamming_distance}})
    return result


def run_cancel(stub, pb2, options):
    future = stub.Find.future(pb2.HashNameRequest(desired_name=NEVER), timeout=SAFETY_TIMEOUT_S)
    if options.delay_ms is not None:
        time.sleep(options.delay_ms / 1000)
    else:
        line = sys.stdin.readline()
        if line.strip() != "go":
            fail("expected a line 'go' on stdin, got %r" % line)
    running_before = future.running()
    start = time.monotonic()
    cancel_returned = future.cancel()
    try:
        future.result()
        raised = None
    except grpc.FutureCancelledError:
        raised = "FutureCancelledError"
    except grpc.RpcError as error:
        raised = "RpcError:" + str(status_of(error)["code"])
    code = future.code()
    return {"code": code.name if code is not None else None, "details": future.details(),
            "running_before_cancel": running_before, "cancel_returned": cancel_returned,
            "cancelled": future.cancelled(), "result_raised": raised, "ms": elapsed_ms(start)}


def run_deadline(stub, pb2, options):
    start = time.monotonic()
    try:
        stub.Find(pb2.HashNameRequest(desired_name=NEVER), timeout=options.ms / 1000)
    except grpc.RpcError as error:
        result = status_of(error)
        result["ms"] = elapsed_ms(start)
        return result
    return {"code": "OK", "ms": elapsed_ms(start)}


def run_invalid(stub, pb2, options):
    try:
        stub.Find(pb2.HashNameRequest(desired_name=""), timeout=SAFETY_TIMEOUT_S)
    except grpc.RpcError as error:
        return status_of(error)
    return {"code": "OK"}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="HOST:PORT of a cancelkit server (h2c)")
    scenarios = parser.add_subparsers(dest="scenario")
    find = scenarios.add_parser("find")
    find.add_argument("name")
    find.add_argument("ideal", type=int)
    find.set_defaults(run=run_find)
    find_range = scenarios.add_parser("find-range")
    find_range.add_argument("name")
    find_range.add_argument("ideal", type=int)
    find_range.add_argument("interesting", type=int)
    find_range.set_defaults(run=run_find_range)
    cancel = scenarios.add_parser("cancel")
    cancel.add_argument("--delay-ms", type=float, default=None,
                        help="cancel after this many ms instead of waiting for 'go' on stdin")
    cancel.set_defaults(run=run_cancel)
    deadline = scenarios.add_parser("deadline")
    deadline.add_argument("ms", type=float)
    deadline.set_defaults(run=run_deadline)
    invalid = scenarios.add_parser("invalid")
    invalid.set_defaults(run=run_invalid)
    options = parser.parse_args(argv)
    if options.scenario is None:
        parser.error("name a scenario")
    return options


def main(argv):
    options = parse_args(argv)
    pb2, pb2_grpc = load_stubs()
    with grpc.insecure_channel(options.server) as channel:
        # Connect first, so that a deadline or a cancel measures the call, not the TCP/HTTP2 handshake.
        try:
            grpc.channel_ready_future(channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            fail("could not connect to " + options.server)
        result = options.run(pb2_grpc.HashFinderStub(channel), pb2, options)
    result["scenario"] = options.scenario
    result["grpcio"] = grpc.__version__
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
