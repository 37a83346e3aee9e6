"""Stream soak: RSS of `fovea serve` while streams come and go, for --seconds.

Starts `fovea serve` (the server tests' repository), then --streams threads each open a StreamPredict to the `cnn`
model, send 200 64x64 frames and read the answers, every other stream cancelling after 100 answers, and open the next
stream, until --seconds have passed. Samples the server's RSS every 30 s and prints the samples, the frames answered
and the RSS slope (least squares) after the first minute; then stops the server with SIGTERM and prints its exit
status. Needs server/target/fovea.jar and Debian's python3-grpcio and python3-grpc-tools.

    /usr/bin/python3 benchmarks/python/soak.py [--seconds 600] [--streams 8]
"""
import argparse
import os
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fovea_process import ROOT, has_option, port, start_server, stubs  # noqa: E402


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", default=os.path.join(ROOT, "server/target/fovea.jar"))
    parser.add_argument("--repository", default=os.path.join(ROOT, "server/src/test/resources/repository"))
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--streams", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        stubs(work)
        from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc
        http_off = ["--http-port", "-1"] if has_option(args.jar, "--http-port") else []
        server, log = start_server(args.jar, args.repository, work, *http_off)
        stub = inference_pb2_grpc.InferenceServiceStub(grpc.insecure_channel(
            "127.0.0.1:%d" % port(log, r"^fovea: serving .* on 127\.0\.0\.1:(\d+)$")))
        image = image_pb2.Image(pixels=image_pb2.RawPixels(data=bytes(range(256)) * (64 * 64 * 3 // 256), width=64,
                                                           height=64, format=image_pb2.PIXEL_FORMAT_RGB))
        until = time.monotonic() + args.seconds
        answered = [0] * args.streams
        errors = []

        def requests():
            yield inference_pb2.StreamPredictRequest(options=inference_pb2.StreamOptions(model="cnn"))
            for i in range(200):
                yield inference_pb2.StreamPredictRequest(frame=inference_pb2.Frame(frame_id=i, image=image))

        def worker(k):
            opened = 0
            while time.monotonic() < until:
                opened += 1
                call = stub.StreamPredict(requests(), timeout=120)
                try:
                    for j, _ in enumerate(call):
                        answered[k] += 1
                        if opened % 2 == 0 and j == 100:
                            call.cancel()
                            break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.CANCELLED:
                        errors.append("%s: %s" % (error.code().name, error.details()))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.streams)]
        for thread in threads:
            thread.start()
        start = time.monotonic()
        samples = []
        while time.monotonic() < until:
            samples.append((time.monotonic() - start, rss_mb(server.pid)))
            print("t=%4.0f s  rss=%4.0f MB  answered=%d" % (samples[-1] + (sum(answered),)), flush=True)
            time.sleep(min(30, max(0.1, until - time.monotonic())))
        for thread in threads:
            thread.join()
        samples.append((time.monotonic() - start, rss_mb(server.pid)))
        print("t=%4.0f s  rss=%4.0f MB  answered=%d" % (samples[-1] + (sum(answered),)), flush=True)
        server.terminate()
        status = server.wait(120)
    late = [sample for sample in samples if sample[0] >= 60]
    if len(late) >= 2:
        mean_t = sum(t for t, _ in late) / len(late)
        mean_r = sum(r for _, r in late) / len(late)
        slope = (sum((t - mean_t) * (r - mean_r) for t, r in late) / sum((t - mean_t) ** 2 for t, _ in late))
        print("RSS slope after the first minute: %.2f MB/min over %d samples" % (slope * 60, len(late)))
    print("frames answered: %d; stream errors other than CANCELLED: %d%s" % (
        sum(answered), len(errors), (" (first: %s)" % errors[0]) if errors else ""))
    print("server exit status after SIGTERM: %d" % status)


if __name__ == "__main__":
    main()
