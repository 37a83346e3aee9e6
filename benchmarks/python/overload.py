"""Overload: what callers who play by the rules see while others flood the same model.

Starts `fovea serve` on a model repository (the server tests' by default) with a small queue, then measures one
well-behaved probe caller (ModelInfer, one request at a time, 30 s deadline) twice:
  1. unloaded: the probe alone;
  2. overloaded: the probe while FLOODERS threads send the same request with a 1 ms deadline as fast as they can and
     GREEDY threads send it with a normal deadline, together keeping the model's queue full.
It prints, as JSON and as a markdown row: the probe's p50/p99 and its OK / refused counts in each phase, and the
flooders' and greedy callers' outcomes by status code. Every loop is bounded by --seconds; traffic goes to loopback
only. Needs server/target/fovea.jar and Debian's python3-grpcio and python3-grpc-tools.

    /usr/bin/python3 benchmarks/python/overload.py [--model cnn] [--seconds 15] [--queue-capacity 8]
"""
import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fovea_process import ROOT, has_option, port, start_server, stubs  # noqa: E402


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


EXAMPLES = {}


def caller(stub, request, timeout, until, outcomes, latencies=None):
    while time.monotonic() < until:
        start = time.perf_counter()
        try:
            stub.ModelInfer(request, timeout=timeout)
            code = "OK"
        except grpc.RpcError as error:
            code = error.code().name
            EXAMPLES.setdefault(code, (error.details() or "")[:200])
        outcomes[code] += 1
        if latencies is not None and code == "OK":
            latencies.append((time.perf_counter() - start) * 1000)


def phase(stubs, request, seconds, flooders, greedy):
    """stubs: one per connection (probe, greedy, flooders): a server may close a connection whose client resets too
    many streams (HTTP/2 rapid-reset protection), which must not take the well-behaved callers with it."""
    until = time.monotonic() + seconds
    probe, flood, greed, latencies = (collections.Counter(), collections.Counter(), collections.Counter(), [])
    threads = [threading.Thread(target=caller, args=(stubs[2], request, 0.001, until, flood))
               for _ in range(flooders)]
    threads += [threading.Thread(target=caller, args=(stubs[1], request, 30, until, greed)) for _ in range(greedy)]
    for thread in threads:
        thread.start()
    caller(stubs[0], request, 30, until, probe, latencies)
    for thread in threads:
        thread.join()
    return {"probe": dict(probe), "probe_p50_ms": percentile(latencies, 50), "probe_p99_ms": percentile(latencies, 99),
            "flooders": dict(flood), "greedy": dict(greed)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", default=os.path.join(ROOT, "server/target/fovea.jar"))
    parser.add_argument("--repository", default=os.path.join(ROOT, "server/src/test/resources/repository"))
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--queue-capacity", type=int, default=8)
    parser.add_argument("--flooders", type=int, default=16)
    parser.add_argument("--greedy", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        stubs(work)
        from inference import grpc_service_pb2 as pb, grpc_service_pb2_grpc as pb_grpc
        http_off = ["--http-port", "-1"] if has_option(args.jar, "--http-port") else []
        server, log = start_server(args.jar, args.repository, work, "--queue-capacity", str(args.queue_capacity),
                                   *http_off)
        grpc_port = port(log, r"^fovea: serving .* on 127\.0\.0\.1:(\d+)$")
        try:
            channels = [grpc.insecure_channel("127.0.0.1:%d" % grpc_port, options=[("grpc.use_local_subchannel_pool", 1)])
                        for _ in range(3)]
            stub = [pb_grpc.GRPCInferenceServiceStub(channel) for channel in channels]
            frame = pb.ModelInferRequest.InferInputTensor(name="input", datatype="UINT8", shape=[1, 32, 32, 3])
            request = pb.ModelInferRequest(model_name=args.model, inputs=[frame],
                                           raw_input_contents=[bytes(range(256)) * 12])
            phase(stub, request, 2, 0, 0)  # warm-up, not reported
            result = {"unloaded": phase(stub, request, args.seconds, 0, 0),
                      "overloaded": phase(stub, request, args.seconds, args.flooders, args.greedy),
                      "seconds": args.seconds, "queue_capacity": args.queue_capacity,
                      "flooders": args.flooders, "greedy": args.greedy, "model": args.model,
                      "example_messages": EXAMPLES}
            for channel in channels:
                channel.close()
        finally:
            server.terminate()
            server.wait(60)
    print(json.dumps(result, indent=2))
    u, o = result["unloaded"], result["overloaded"]
    print("| phase | probe OK | probe refused | probe p50 ms | probe p99 ms | flooders | greedy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in (("unloaded", u), ("overloaded", o)):
        refused = sum(n for code, n in r["probe"].items() if code != "OK")
        print("| %s | %d | %d | %.2f | %.2f | %s | %s |" % (name, r["probe"].get("OK", 0), refused,
                                                        r["probe_p50_ms"] or 0, r["probe_p99_ms"] or 0,
                                                        r["flooders"] or "-", r["greedy"] or "-"))


if __name__ == "__main__":
    main()
