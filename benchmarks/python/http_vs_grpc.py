"""The Open Inference Protocol's HTTP/REST binding against its gRPC binding, from one Python client on loopback.

Starts `fovea serve` (the server tests' repository by default, --threads 1, gRPC and HTTP on free ports), then on the
`cnn` model with one UINT8 [1, 32, 32, 3] frame: batch-1 latency of HTTP with a JSON tensor, HTTP with Triton's
binary tensor extension and gRPC ModelInfer (--requests sequential requests each after 20 warm-up ones; keep-alive
HTTP connection, one gRPC channel), then throughput at --concurrency for --seconds, HTTP binary and gRPC. Prints a
markdown table. Needs server/target/fovea.jar and Debian's python3-grpcio and python3-grpc-tools.

    /usr/bin/python3 benchmarks/python/http_vs_grpc.py [--requests 300] [--concurrency 8] [--seconds 10]
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fovea_process import ROOT, port, start_server, stubs  # noqa: E402

FRAME = bytes((i * 7) % 256 for i in range(32 * 32 * 3))
JSON_BODY = json.dumps({"inputs": [{"name": "input", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                                    "data": list(FRAME)}]}).encode()
BINARY_HEADER = json.dumps({"inputs": [{"name": "input", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                                        "parameters": {"binary_data_size": len(FRAME)}}],
                            "outputs": [{"name": "output_0", "parameters": {"binary_data": True}}]}).encode()


def http_infer(connection, binary):
    body = BINARY_HEADER + FRAME if binary else JSON_BODY
    headers = ({"Inference-Header-Content-Length": str(len(BINARY_HEADER))} if binary
               else {"Content-Type": "application/json"})
    connection.request("POST", "/v2/models/cnn/infer", body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit("HTTP %d: %s" % (response.status, data[:200]))


def latency(call, requests):
    for _ in range(20):
        call()
    millis = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        millis.append((time.perf_counter() - start) * 1000)
    millis.sort()
    return millis[len(millis) // 2], millis[min(len(millis) - 1, int(len(millis) * 0.99))]


def throughput(make_call, concurrency, seconds):
    counts = [0] * concurrency
    until = time.monotonic() + seconds

    def worker(i):
        call = make_call()
        while time.monotonic() < until:
            call()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", default=os.path.join(ROOT, "server/target/fovea.jar"))
    parser.add_argument("--repository", default=os.path.join(ROOT, "server/src/test/resources/repository"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        stubs(work)
        from inference import grpc_service_pb2 as pb, grpc_service_pb2_grpc as pb_grpc
        server, log = start_server(args.jar, args.repository, work, "--threads", "1", "--http-port", "0")
        try:
            grpc_port = port(log, r"^fovea: serving .* on 127\.0\.0\.1:(\d+)$")
            http_port = port(log, r"^fovea: HTTP on http://127\.0\.0\.1:(\d+)$")
            request = pb.ModelInferRequest(model_name="cnn", inputs=[pb.ModelInferRequest.InferInputTensor(
                name="input", datatype="UINT8", shape=[1, 32, 32, 3])], raw_input_contents=[FRAME])

            def http_call(binary):
                connection = http.client.HTTPConnection("127.0.0.1", http_port)
                return lambda: http_infer(connection, binary)

            def grpc_call():
                stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(
                    "127.0.0.1:%d" % grpc_port, options=[("grpc.use_local_subchannel_pool", 1)]))
                return lambda: stub.ModelInfer(request, timeout=30)

            rows = [("HTTP, JSON tensor",) + latency(http_call(False), args.requests) + (None,),
                    ("HTTP, binary tensor",) + latency(http_call(True), args.requests)
                    + (throughput(lambda: http_call(True), args.concurrency, args.seconds),),
                    ("gRPC ModelInfer",) + latency(grpc_call(), args.requests)
                    + (throughput(grpc_call, args.concurrency, args.seconds),)]
        finally:
            server.terminate()
            server.wait(60)
    print("| binding | b1 p50 | b1 p99 | req/s at concurrency %d |" % args.concurrency)
    print("| --- | --- | --- | --- |")
    for name, p50, p99, rate in rows:
        print("| %s | %.2f ms | %.2f ms | %s |" % (name, p50, p99, "-" if rate is None else "%.0f" % rate))


if __name__ == "__main__":
    main()
