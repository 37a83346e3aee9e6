"""The server a user would write instead of Fovea: a plain Python gRPC server (Debian's python3-grpcio and
python3-torch) serving one TorchScript model over Fovea's own API (proto/fovea/v1), so that the same load generator
(fovea-bench) drives both. benchmarks/load.sh starts it for the comparison recorded in docs/benchmarks.md.

It is written the straightforward way: a grpc thread pool, one request at a time per thread, torch ops for
preprocessing (the model's config.pbtxt: resize, center crop, scale, normalize), inference_mode, softmax and top-k.
No batching across requests: that is what the comparison measures.

    /usr/bin/python3 benchmarks/python/python_server.py --model-repository DIR --model NAME [--port 8102]
        [--threads 2] [--workers 16] [--stubs DIR]
"""
import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
import torch
import torch.nn.functional as F
from google.protobuf import text_format

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_stubs(stubs):
    if not stubs:
        stubs = tempfile.mkdtemp(prefix="fovea-py-stubs-")
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(REPO_ROOT, "proto"),
                        "--python_out=" + stubs, "--grpc_python_out=" + stubs]
                       + [os.path.join(REPO_ROOT, "proto", "fovea", "v1", f) for f in
                          ("image.proto", "model.proto", "result.proto", "inference.proto")], check=True)
        for package in ("fovea", os.path.join("fovea", "v1")):
            open(os.path.join(stubs, package, "__init__.py"), "a").close()
    sys.path.insert(0, stubs)


class Model:
    """The TorchScript module with the preprocessing its config.pbtxt asks for."""

    def __init__(self, folder, model_pb2):
        self.module = torch.jit.load(os.path.join(folder, "model.pt")).eval()
        self.config = model_pb2.ModelConfig()
        config_file = os.path.join(folder, "config.pbtxt")
        if os.path.exists(config_file):
            with open(config_file) as f:
                text_format.Parse(f.read(), self.config)
        p = self.config.preprocessing
        self.crop = (p.crop_height or 224, p.crop_width or 224)
        self.shorter = p.resize_shorter_side
        self.gray = p.channel_order == model_pb2.CHANNEL_ORDER_GRAY
        self.bgr = p.channel_order == model_pb2.CHANNEL_ORDER_BGR
        channels = 1 if self.gray else 3
        self.mean = torch.tensor(list(p.mean) or [0.0] * channels).view(1, channels, 1, 1)
        self.std = torch.tensor(list(p.std) or [1.0] * channels).view(1, channels, 1, 1)
        self.classifier = self.config.task != model_pb2.TASK_RAW
        labels_file = os.path.join(folder, self.config.labels_file or "labels.txt")
        self.labels = []
        if os.path.exists(labels_file):
            with open(labels_file) as f:
                self.labels = [line.strip() for line in f if line.strip()]

    def to_tensor(self, image, image_pb2):
        """One image message as a float [1, C, H, W] input."""
        kind = image.WhichOneof("data")
        if kind == "tensor":
            return torch.frombuffer(bytearray(image.tensor.data), dtype=torch.float32).view(
                1, *image.tensor.shape)
        if kind == "encoded":
            from PIL import Image
            picture = Image.open(io.BytesIO(image.encoded.data)).convert("L" if self.gray else "RGB")
            hwc = torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8).view(
                picture.height, picture.width, -1)
        elif kind == "pixels":
            pixels = image.pixels
            channels = 1 if pixels.format == image_pb2.PIXEL_FORMAT_GRAY else 3
            stride = pixels.row_stride or pixels.width * channels
            if len(pixels.data) < (pixels.height - 1) * stride + pixels.width * channels:
                raise ValueError("pixels.data is too short for %dx%d" % (pixels.width, pixels.height))
            rows = torch.frombuffer(bytearray(pixels.data), dtype=torch.uint8)
            rows = F.pad(rows, (0, pixels.height * stride - rows.numel())).view(pixels.height, stride)
            hwc = rows[:, :pixels.width * channels].reshape(pixels.height, pixels.width, channels)
            if pixels.format == image_pb2.PIXEL_FORMAT_BGR:
                hwc = hwc.flip(2)
            if self.gray and channels == 3:
                hwc = (hwc.float() @ torch.tensor([0.299, 0.587, 0.114])).round().clamp(0, 255).byte().unsqueeze(2)
        else:
            raise ValueError("no image data")
        x = hwc.permute(2, 0, 1).unsqueeze(0).float()
        if self.bgr:
            x = x.flip(1)
        height, width = x.shape[2], x.shape[3]
        if self.shorter:
            scale = self.shorter / min(height, width)
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
        else:
            size = self.crop
        if (height, width) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        top = (x.shape[2] - self.crop[0]) // 2
        left = (x.shape[3] - self.crop[1]) // 2
        x = x[:, :, top:top + self.crop[0], left:left + self.crop[1]]
        return (x / 255.0 - self.mean) / self.std


def make_servicer(model, name, pb):
    image_pb2, model_pb2, result_pb2, inference_pb2, inference_pb2_grpc = pb

    def info():
        return model_pb2.ModelInfo(name=name, status=model_pb2.MODEL_STATUS_READY, device="cpu",
                                   config=model.config, labels=model.labels)

    def run(images, top_k, include_outputs):
        start = time.perf_counter()
        batch = torch.cat([model.to_tensor(image, image_pb2) for image in images])
        preprocessed = time.perf_counter()
        with torch.inference_mode():
            outputs = model.module(batch)
        inferred = time.perf_counter()
        outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
        results = []
        for row in range(len(images)):
            result = result_pb2.Result()
            if model.classifier:
                probabilities = torch.softmax(outputs[0][row].float(), dim=0)
                scores, indices = probabilities.topk(min(top_k or 5, probabilities.numel()))
                for score, index in zip(scores.tolist(), indices.tolist()):
                    result.classes.add(index=index, score=score,
                                       label=model.labels[index] if index < len(model.labels) else "")
            if include_outputs:
                for output in outputs:
                    value = output[row].contiguous()
                    result.outputs.add(dtype=image_pb2.DATA_TYPE_FLOAT32, shape=list(value.shape),
                                       data=value.float().numpy().tobytes())
            done = time.perf_counter()
            result.timings.preprocess_us = int((preprocessed - start) * 1e6)
            result.timings.inference_us = int((inferred - preprocessed) * 1e6)
            result.timings.postprocess_us = int((done - inferred) * 1e6)
            result.timings.batch_size = len(images)
            results.append(result)
        return results

    class Servicer(inference_pb2_grpc.InferenceServiceServicer):
        def Predict(self, request, context):
            if request.model != name:
                context.abort(grpc.StatusCode.NOT_FOUND, "model '%s' is not served (model: %s)" % (request.model, name))
            if not request.images:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "images is empty: send at least one image")
            try:
                results = run(request.images, request.top_k, request.include_output_tensors)
            except (ValueError, RuntimeError) as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "images: %s" % e)
            return inference_pb2.PredictResponse(model=name, results=results)

        def StreamPredict(self, request_iterator, context):
            options = None
            for message in request_iterator:
                if options is None:
                    if message.WhichOneof("message") != "options":
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "options: the first message must be options")
                    options = message.options
                    if options.model != name:
                        context.abort(grpc.StatusCode.NOT_FOUND, "model '%s' is not served" % options.model)
                    continue
                frame = message.frame
                response = inference_pb2.StreamPredictResponse(frame_id=frame.frame_id, capture_time=frame.capture_time)
                try:
                    response.result.CopyFrom(run([frame.image], options.top_k, options.include_output_tensors)[0])
                except (ValueError, RuntimeError) as e:
                    response.error.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
                    response.error.message = "frame.image: %s" % e
                yield response

        def ListModels(self, request, context):
            return inference_pb2.ListModelsResponse(models=[info()])

        def GetModel(self, request, context):
            if request.name != name:
                context.abort(grpc.StatusCode.NOT_FOUND, "model '%s' is not served" % request.name)
            return info()

    return Servicer()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--workers", type=int, default=16, help="gRPC thread pool size")
    parser.add_argument("--stubs", help="folder with grpc_tools stubs of proto/fovea/v1 (generated if absent)")
    args = parser.parse_args()

    load_stubs(args.stubs)
    from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc, model_pb2, result_pb2

    torch.set_num_threads(args.threads)
    model = Model(os.path.join(args.model_repository, args.model), model_pb2)
    with torch.inference_mode():
        model.module(torch.zeros(1, 1 if model.gray else 3, *model.crop))
    pb = (image_pb2, model_pb2, result_pb2, inference_pb2, inference_pb2_grpc)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(make_servicer(model, args.model, pb), server)
    port = server.add_insecure_port("%s:%d" % (args.host, args.port))
    server.start()
    print("python-server: serving %s on %s:%d" % (args.model, args.host, port), flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=5).wait()


if __name__ == "__main__":
    main()
