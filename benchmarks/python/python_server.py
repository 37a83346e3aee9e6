"""The server a user would write instead of Fovea: a plain Python gRPC server (Debian's python3-grpcio and
python3-torch) serving one TorchScript model over Fovea's own API (proto/fovea/v1, InferenceService), so that the same
load generator (fovea-bench) drives both. It is the baseline of the comparison in docs/benchmarks.md;
benchmarks/load.sh starts it.

It is written the straightforward way: a gRPC thread pool, one request at a time per thread, the model's config.pbtxt
(read the way Fovea reads it, same defaults) applied with torch ops (resize the shorter side, center crop, scale to
[0, 1], mean/std, channel order), forward under inference_mode, softmax and top-k. No batching across requests: that
is what the comparison measures. Streams run every frame (STREAM_MODE_LATEST_ONLY is not implemented) and shared
memory is not supported.

    /usr/bin/python3 benchmarks/python/python_server.py --model-repository DIR --model NAME [--host 127.0.0.1]
        [--port 8102] [--threads 2] [--workers 16] [--stubs DIR]
"""
import argparse
import atexit
import io
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent import futures
from pathlib import Path

import grpc
import torch
import torch.nn.functional as F
from google.protobuf import text_format
from PIL import Image as PILImage

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOP_K = 5
# fovea.v1.DataType numbers -> torch dtype and the name ModelInfo uses.
DTYPES = {1: torch.uint8, 2: torch.int8, 3: torch.int32, 4: torch.int64, 5: torch.float16, 6: torch.bfloat16,
          7: torch.float32, 8: torch.float64, 9: torch.bool}
WIRE_DTYPES = {dtype: number for number, dtype in DTYPES.items()}
# torch.frombuffer warns that protobuf's bytes are read-only; nothing here writes to them.
warnings.filterwarnings("ignore", message="The given buffer is not writable")


def load_stubs(stubs):
    """Imports the fovea.v1 stubs from `stubs`, or generates them from proto/ into a temporary folder first."""
    if not stubs:
        stubs = tempfile.mkdtemp(prefix="fovea-py-stubs-")
        atexit.register(shutil.rmtree, stubs, True)
        protos = sorted(str(p) for p in (REPO_ROOT / "proto" / "fovea" / "v1").glob("*.proto"))
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO_ROOT / "proto"),
                        "--python_out=" + stubs, "--grpc_python_out=" + stubs, *protos], check=True)
        for package in ("fovea", "fovea/v1"):
            Path(stubs, package, "__init__.py").touch()
    sys.path.insert(0, str(stubs))
    global image_pb2, inference_pb2, inference_pb2_grpc, model_pb2, result_pb2
    from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc, model_pb2, result_pb2


class BadRequest(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def invalid(message):
    return BadRequest(grpc.StatusCode.INVALID_ARGUMENT, message)


def read_config(folder):
    """config.pbtxt (text format of fovea.v1.ModelConfig) with Fovea's defaults (ModelConfigs.java) filled in."""
    config = model_pb2.ModelConfig()
    if (folder / "config.pbtxt").exists():
        text_format.Parse((folder / "config.pbtxt").read_text(), config)
    config.task = config.task or model_pb2.TASK_CLASSIFICATION
    config.device = config.device or "cpu"
    config.max_batch_size = config.max_batch_size or 64
    config.instances = config.instances or 1
    p = config.preprocessing
    if not p.crop_width and not p.crop_height:
        p.crop_width = p.crop_height = 224
    p.channel_order = p.channel_order or model_pb2.CHANNEL_ORDER_RGB
    channels = 1 if p.channel_order == model_pb2.CHANNEL_ORDER_GRAY else 3
    if not p.mean:
        p.mean.extend([0.0] * channels)
    if not p.std:
        p.std.extend([1.0] * channels)
    return config


def decode_pixels(pixels, field):
    """Raw pixels as a uint8 [H, W, C] view of the message's bytes, and their PixelFormat."""
    if pixels.HasField("shared_memory"):
        raise invalid(field + ".shared_memory: shared memory is not supported by this server")
    if pixels.format not in (image_pb2.PIXEL_FORMAT_RGB, image_pb2.PIXEL_FORMAT_BGR, image_pb2.PIXEL_FORMAT_GRAY):
        raise invalid(field + ".format is not set (RGB, BGR or GRAY)")
    if pixels.width == 0 or pixels.height == 0:
        raise invalid(f"{field}: width and height must be at least 1, got {pixels.width}x{pixels.height}")
    channels = 1 if pixels.format == image_pb2.PIXEL_FORMAT_GRAY else 3
    row = pixels.width * channels
    stride = pixels.row_stride or row
    if stride < row:
        raise invalid(f"{field}.row_stride {stride} is less than width x channels ({row})")
    needed = (pixels.height - 1) * stride + row
    data = pixels.data
    if not needed <= len(data) <= pixels.height * stride:
        raise invalid(f"{field}.data holds {len(data)} bytes but {pixels.width}x{pixels.height} with "
                      f"row_stride {stride} needs {needed}")
    flat = torch.frombuffer(data, dtype=torch.uint8)
    return flat.as_strided((pixels.height, pixels.width, channels), (stride, channels, 1)), pixels.format


def decode_file(encoded, field, gray):
    """A JPEG or PNG decoded by PIL as a uint8 [H, W, C] tensor, and its PixelFormat."""
    if encoded.HasField("shared_memory"):
        raise invalid(field + ".shared_memory: shared memory is not supported by this server")
    if not encoded.data:
        raise invalid(field + ".data is empty")
    try:
        picture = PILImage.open(io.BytesIO(encoded.data)).convert("L" if gray else "RGB")
    except (OSError, ValueError, PILImage.DecompressionBombError) as e:
        raise invalid(f"{field}.data is not a readable JPEG or PNG: {e}")
    hwc = torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8)
    pixel_format = image_pb2.PIXEL_FORMAT_GRAY if gray else image_pb2.PIXEL_FORMAT_RGB
    return hwc.view(picture.height, picture.width, 1 if gray else 3), pixel_format


def decode_tensor(tensor, field):
    """A raw tensor as it is, checked against its dtype and shape."""
    if tensor.HasField("shared_memory"):
        raise invalid(field + ".shared_memory: shared memory is not supported by this server")
    if tensor.dtype not in DTYPES:
        raise invalid(field + ".dtype is not set")
    if any(size < 0 for size in tensor.shape):
        raise invalid(f"{field}.shape {list(tensor.shape)} has a negative size")
    dtype = DTYPES[tensor.dtype]
    needed = math.prod(tensor.shape) * torch.empty(0, dtype=dtype).element_size()
    data = tensor.data
    if len(data) != needed:
        raise invalid(f"{field}.data holds {len(data)} bytes but {dtype} {list(tensor.shape)} needs {needed}")
    if needed == 0:
        return torch.empty(list(tensor.shape), dtype=dtype)
    return torch.frombuffer(data, dtype=dtype).view(list(tensor.shape))


def to_raw_tensor(tensor):
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype not in WIRE_DTYPES:
        tensor = tensor.float()
    data = tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor
    return image_pb2.RawTensor(dtype=WIRE_DTYPES[tensor.dtype], shape=list(tensor.shape), data=data.numpy().tobytes())


class Model:
    """<repository>/<name>/model.pt with the preprocessing its config.pbtxt asks for and its labels."""

    def __init__(self, repository, name):
        folder = Path(repository, name)
        self.name = name
        self.config = read_config(folder)
        self.device = torch.device(self.config.device)
        labels_file = folder / (self.config.labels_file or "labels.txt")
        if self.config.labels_file and not labels_file.exists():
            sys.exit(f"python-server: labels_file {labels_file} does not exist")
        self.labels = [line.strip() for line in labels_file.read_text().splitlines()
                       if line.strip()] if labels_file.exists() else []
        self.module = torch.jit.load(str(folder / "model.pt"), map_location=self.device).eval()
        p = self.config.preprocessing
        self.channels = 1 if p.channel_order == model_pb2.CHANNEL_ORDER_GRAY else 3
        self.mean = torch.tensor(list(p.mean), device=self.device).view(-1, 1, 1)
        self.std = torch.tensor(list(p.std), device=self.device).view(-1, 1, 1)
        # Warm up with a mid-gray picture of the crop size, and describe the model the way Fovea's GetModel does.
        gray = image_pb2.Image(pixels=image_pb2.RawPixels(data=bytes([128]) * (p.crop_width * p.crop_height * 3),
                                                          width=p.crop_width, height=p.crop_height,
                                                          format=image_pb2.PIXEL_FORMAT_RGB))
        warm = self.run([("warm-up", gray)], 1, True)[0]
        self.info = model_pb2.ModelInfo(
            name=name, status=model_pb2.MODEL_STATUS_READY, device=str(self.device), config=self.config,
            labels=self.labels,
            input=model_pb2.TensorSpec(name="input", dtype="float32",
                                       shape=[-1, self.channels, p.crop_height, p.crop_width]),
            outputs=[model_pb2.TensorSpec(name=f"output_{i}", dtype=str(DTYPES[out.dtype]).replace("torch.", ""),
                                          shape=[-1, *out.shape]) for i, out in enumerate(warm.outputs)])

    def preprocess(self, hwc, pixel_format):
        """uint8 [H, W, C] pixels in `pixel_format` -> the model's normalized float [C, crop_height, crop_width]."""
        p = self.config.preprocessing
        x = hwc.to(self.device).permute(2, 0, 1).float()
        if x.shape[0] == 3 and self.channels == 1:
            red, green, blue = x if pixel_format == image_pb2.PIXEL_FORMAT_RGB else x.flip(0)
            x = (0.299 * red + 0.587 * green + 0.114 * blue).unsqueeze(0)
        elif x.shape[0] == 1 and self.channels == 3:
            x = x.expand(3, -1, -1)
        elif x.shape[0] == 3 and pixel_format != p.channel_order:  # both enums number RGB 1, BGR 2
            x = x.flip(0)
        height, width = x.shape[1], x.shape[2]
        if p.resize_shorter_side:  # torchvision's Resize(int): the shorter side becomes S, the longer S * long / short
            s = p.resize_shorter_side
            size = (s, int(s * width / height)) if height <= width else (int(s * height / width), s)
        else:
            size = (p.crop_height, p.crop_width)
        if size != (height, width):
            x = F.interpolate(x.unsqueeze(0), size=size, mode="bilinear", align_corners=False,
                              antialias=True).squeeze(0)
        height, width = x.shape[1], x.shape[2]
        if p.crop_height > height or p.crop_width > width:  # torchvision's CenterCrop pads a small image with zeros
            pad_h, pad_w = max(p.crop_height - height, 0), max(p.crop_width - width, 0)
            x = F.pad(x, [pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2])
            height, width = x.shape[1], x.shape[2]
        top, left = int(round((height - p.crop_height) / 2)), int(round((width - p.crop_width) / 2))
        x = x[:, top:top + p.crop_height, left:left + p.crop_width]
        return (x / 255 - self.mean) / self.std

    def to_input(self, field, image):
        """One Image message as (model input without the batch dimension, whether it is a raw tensor)."""
        kind = image.WhichOneof("data")
        if kind == "tensor":
            return decode_tensor(image.tensor, field + ".tensor").to(self.device), True
        if kind == "pixels":
            return self.preprocess(*decode_pixels(image.pixels, field + ".pixels")), False
        if kind == "encoded":
            return self.preprocess(*decode_file(image.encoded, field + ".encoded", self.channels == 1)), False
        raise invalid(field + ": no image data (set encoded, pixels or tensor)")

    def run(self, named_images, top_k, include_outputs):
        """Runs [(field, Image)] as one batch; one Result per image."""
        start = time.perf_counter()
        with torch.inference_mode():
            inputs = [self.to_input(field, image) for field, image in named_images]
            raw = inputs[0][1]
            for (field, _), (tensor, is_raw) in zip(named_images, inputs):
                if is_raw != raw:
                    raise invalid("images: a request must not mix raw tensors with encoded or pixel images")
                if raw and (tensor.shape != inputs[0][0].shape or tensor.dtype != inputs[0][0].dtype):
                    raise invalid(f"{field}.tensor: {tensor.dtype} {list(tensor.shape)} differs from the first "
                                  f"image's {inputs[0][0].dtype} {list(inputs[0][0].shape)}")
            batch = torch.stack([tensor for tensor, _ in inputs])
            preprocessed = time.perf_counter()
            try:
                outputs = self.module(batch)
            except RuntimeError as e:
                if raw:
                    raise invalid(f"{named_images[0][0]}.tensor: the model rejected it: {e}")
                raise BadRequest(grpc.StatusCode.INTERNAL, f"model {self.name} failed: {e}")
            inferred = time.perf_counter()
            outputs = list(outputs.values()) if isinstance(outputs, dict) else \
                list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
            classify = self.config.task == model_pb2.TASK_CLASSIFICATION
            if classify:
                probabilities = torch.softmax(outputs[0].float(), dim=1)
                scores, indices = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
            results = []
            for row in range(len(inputs)):
                result = result_pb2.Result()
                if classify:
                    for score, index in zip(scores[row].tolist(), indices[row].tolist()):
                        result.classes.add(index=index, score=score,
                                           label=self.labels[index] if index < len(self.labels) else "")
                if include_outputs:
                    result.outputs.extend(to_raw_tensor(output[row]) for output in outputs)
                results.append(result)
        postprocess_us = int((time.perf_counter() - inferred) * 1e6 / len(results))
        for result in results:
            result.timings.CopyFrom(result_pb2.Timings(
                queue_us=0, preprocess_us=int((preprocessed - start) * 1e6),
                inference_us=int((inferred - preprocessed) * 1e6), postprocess_us=postprocess_us,
                batch_size=len(results)))
        return results


class InferenceService:
    """fovea.v1.InferenceService for one model; each call runs on one thread of the gRPC pool."""

    def __init__(self, model):
        self.model = model

    def find(self, name, context):
        if name != self.model.name:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"model '{name}' is not in the repository (models: {self.model.name})")
        return self.model

    def Predict(self, request, context):
        model = self.find(request.model, context)
        if not request.images:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "images is empty: send at least one image")
        if len(request.images) > model.config.max_batch_size:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"images: {len(request.images)} images is more than "
                          f"the model's max_batch_size {model.config.max_batch_size}")
        try:
            results = model.run([(f"images[{i}]", image) for i, image in enumerate(request.images)],
                                request.top_k or DEFAULT_TOP_K, request.include_output_tensors)
        except BadRequest as e:
            context.abort(e.code, str(e))
        return inference_pb2.PredictResponse(model=model.name, results=results)

    def StreamPredict(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            return
        if first.WhichOneof("message") != "options":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "options: the first message of a stream must carry StreamOptions")
        options = first.options
        model = self.find(options.model, context)
        for message in request_iterator:
            if message.WhichOneof("message") != "frame":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "options: sent twice; every message after the first must be a frame")
            frame = message.frame
            response = inference_pb2.StreamPredictResponse(frame_id=frame.frame_id, capture_time=frame.capture_time)
            try:
                if not frame.HasField("image"):
                    raise invalid("frame.image is not set")
                response.result.CopyFrom(model.run([("frame.image", frame.image)], options.top_k or DEFAULT_TOP_K,
                                                   options.include_output_tensors)[0])
            except BadRequest as e:
                response.error.code = e.code.value[0]
                response.error.message = str(e)
            yield response

    def ListModels(self, request, context):
        return inference_pb2.ListModelsResponse(models=[self.model.info])

    def GetModel(self, request, context):
        return self.find(request.name, context).info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102, help="0 picks a free port (printed)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (torch.set_num_threads)")
    parser.add_argument("--workers", type=int, default=16, help="gRPC thread pool size")
    parser.add_argument("--stubs", help="folder with grpc_tools stubs of proto/fovea/v1 (generated if absent)")
    args = parser.parse_args()

    load_stubs(args.stubs)
    torch.set_num_threads(args.threads)
    model = Model(args.model_repository, args.model)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20)])
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(InferenceService(model), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    server.start()
    print(f"python-server: serving {args.model} on {args.host}:{port}", flush=True)
    stopped.wait()
    server.stop(grace=5).wait()


if __name__ == "__main__":
    main()
