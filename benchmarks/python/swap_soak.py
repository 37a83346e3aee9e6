"""Swap soak: streams run while the model is replaced again and again, for --seconds.

Copies the server tests' `cnn` model into a temporary repository as version 1 and starts `fovea serve
--model-control-mode explicit --load-model cnn`. --streams threads each keep one StreamPredict open to `cnn`, sending
64x64 frames as fast as flow control lets them and checking every answer: its frame id (in order, none missing), that
it is a result (no error), and the version that ran it (never going back). Every --swap-every seconds the script adds
the next version folder and calls LoadModel; every fifth version is a broken file, whose load must fail with
FAILED_PRECONDITION while the serving version goes on. Prints a line per swap (version, load time, RSS, frames
answered), then the totals and the RSS slope (least squares) after the first minute, stops the server with SIGTERM
and prints its exit status. Needs server/target/fovea.jar and Debian's python3-grpcio and python3-grpc-tools.

    /usr/bin/python3 benchmarks/python/swap_soak.py [--seconds 300] [--streams 4] [--swap-every 2]
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fovea_process import ROOT, port, start_server, stubs  # noqa: E402
from soak import rss_mb  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", default=os.path.join(ROOT, "server/target/fovea.jar"))
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--swap-every", type=float, default=2)
    args = parser.parse_args()
    source = os.path.join(ROOT, "server/src/test/resources/repository/cnn")
    with tempfile.TemporaryDirectory() as work:
        stubs(work)
        from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc
        cnn = os.path.join(work, "repository", "cnn")
        os.makedirs(os.path.join(cnn, "1"))
        for name in ("config.pbtxt", "labels.txt"):
            shutil.copy(os.path.join(source, name), cnn)
        shutil.copy(os.path.join(source, "model.pt"), os.path.join(cnn, "1"))
        server, log = start_server(args.jar, os.path.dirname(cnn), work, "--http-port", "-1",
                                   "--model-control-mode", "explicit", "--load-model", "cnn")
        channel = grpc.insecure_channel("127.0.0.1:%d" % port(log, r"^fovea: serving .* on 127\.0\.0\.1:(\d+)$"))
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        image = image_pb2.Image(pixels=image_pb2.RawPixels(data=bytes(range(256)) * (64 * 64 * 3 // 256), width=64,
                                                           height=64, format=image_pb2.PIXEL_FORMAT_RGB))
        stop = threading.Event()
        answered = [0] * args.streams
        problems = []

        def requests():
            yield inference_pb2.StreamPredictRequest(options=inference_pb2.StreamOptions(model="cnn", top_k=1))
            frame = 0
            while not stop.is_set():
                yield inference_pb2.StreamPredictRequest(frame=inference_pb2.Frame(frame_id=frame, image=image))
                frame += 1

        def worker(k):
            expected = 0
            newest = 0
            try:
                for response in stub.StreamPredict(requests()):
                    if response.frame_id != expected:
                        problems.append("stream %d: frame %d answered where %d was due" % (
                            k, response.frame_id, expected))
                    expected = response.frame_id + 1
                    if response.WhichOneof("outcome") != "result":
                        problems.append("stream %d: frame %d: %s" % (k, response.frame_id, response))
                    version = int(response.model_version)
                    if version < newest:
                        problems.append("stream %d: version %d after %d" % (k, version, newest))
                    newest = max(newest, version)
                    answered[k] += 1
            except grpc.RpcError as error:
                problems.append("stream %d ended: %s: %s" % (k, error.code().name, error.details()))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.streams)]
        for thread in threads:
            thread.start()
        start = time.monotonic()
        samples = []
        version = 1
        swaps = refused = 0
        load_ms = []
        while time.monotonic() - start < args.seconds:
            time.sleep(args.swap_every)
            version += 1
            folder = os.path.join(cnn, str(version))
            os.makedirs(folder)
            broken = version % 5 == 0
            if broken:
                with open(os.path.join(folder, "model.pt"), "w") as out:
                    out.write("not a TorchScript archive")
            else:
                shutil.copy(os.path.join(source, "model.pt"), folder)
            began = time.monotonic()
            try:
                info = stub.LoadModel(inference_pb2.LoadModelRequest(name="cnn"), timeout=120)
                if broken or info.version != str(version):
                    problems.append("version %d: load answered %s" % (version, info))
                load_ms.append((time.monotonic() - began) * 1000)
                swaps += 1
            except grpc.RpcError as error:
                if not broken or error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    problems.append("version %d: %s: %s" % (version, error.code().name, error.details()))
                refused += 1
            samples.append((time.monotonic() - start, rss_mb(server.pid)))
            print("t=%4.0f s  version %3d %s  rss=%4.0f MB  answered=%d" % (
                samples[-1][0], version, "refused (broken)" if broken else "serves", samples[-1][1],
                sum(answered)), flush=True)
        stop.set()
        for thread in threads:
            thread.join(120)
        channel.close()
        server.terminate()
        status = server.wait(120)
    late = [sample for sample in samples if sample[0] >= 60]
    if len(late) >= 2:
        mean_t = sum(t for t, _ in late) / len(late)
        mean_r = sum(r for _, r in late) / len(late)
        slope = (sum((t - mean_t) * (r - mean_r) for t, r in late) / sum((t - mean_t) ** 2 for t, _ in late))
        print("RSS slope after the first minute: %.2f MB/min over %d samples" % (slope * 60, len(late)))
    load_ms.sort()
    if load_ms:
        print("swaps: %d (load + warm-up p50 %.0f ms, max %.0f ms); broken versions refused: %d" % (
            swaps, load_ms[len(load_ms) // 2], load_ms[-1], refused))
    print("frames answered: %d; problems (failed, lost, out-of-order frames, ended streams): %d%s" % (
        sum(answered), len(problems), (" (first: %s)" % problems[0]) if problems else ""))
    print("server exit status after SIGTERM: %d" % status)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
