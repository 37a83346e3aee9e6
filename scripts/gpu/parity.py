"""Checks that a model's outputs on the GPU equal the CPU outputs of the same model, through the server: the same
frames (seeded random 224x224 RGB raw pixels, one fovea.v1 Predict with all of them) go to a model served on the
device and to the same TorchScript file served on the CPU, with include_output_tensors, and the logits are compared.

    python3 scripts/gpu/parity.py --target HOST:PORT --stubs DIR --out parity.json [--frames 4] CHECK...

CHECK is MODEL:REFERENCE:PRECISION:TOLERANCE, e.g. resnet50:resnet50-cpu:fp32:0.01. A check passes when the largest
absolute difference over all logits is at most TOLERANCE times the reference's largest absolute logit (a relative
bound, since random-weight models' logits have no fixed scale). Cosine similarity and top-1 agreement are reported
beside it. The benchmark models have random weights, which makes two cases say little, so they are marked: all-zero
reference logits (torchvision's ViT zero-initialises its head: the check then only asks for zeros back), and FP16
against logits smaller than FP16's smallest normal number (random-weight MobileNetV3-small's are about 1e-9 on the
CPU): "passed" is null there. Exits 1 if a check fails or a call fails; writes every check's figures to --out.
"""
import argparse
import json
import random
import sys

import grpc
import torch

WIDTH = HEIGHT = 224
FP16_SMALLEST_NORMAL = 6.1e-5
DTYPES = {5: torch.float16, 6: torch.bfloat16, 7: torch.float32, 8: torch.float64}  # fovea.v1.DataType


def frames(count, seed):
    rng = random.Random(seed)
    return [rng.randbytes(WIDTH * HEIGHT * 3) for _ in range(count)]


def logits(stub, inference_pb2, image_pb2, model, pixels):
    images = [image_pb2.Image(pixels=image_pb2.RawPixels(data=data, width=WIDTH, height=HEIGHT,
                                                         format=image_pb2.PIXEL_FORMAT_RGB)) for data in pixels]
    response = stub.Predict(inference_pb2.PredictRequest(model=model, images=images, top_k=1,
                                                         include_output_tensors=True), timeout=120)
    rows = []
    for result in response.results:
        tensor = result.outputs[0]
        values = torch.frombuffer(bytearray(tensor.data), dtype=DTYPES[tensor.dtype]).float()
        rows.append(values.reshape(-1))
    return torch.stack(rows)


def compare(model, reference, precision, tolerance, got, want):
    max_abs = (got - want).abs().max().item()
    scale = want.abs().max().item()
    cosine = torch.nn.functional.cosine_similarity(got, want, dim=1).min().item()
    top1 = int((got.argmax(dim=1) == want.argmax(dim=1)).sum().item())
    row = dict(model=model, reference=reference, precision=precision, frames=len(got), max_abs_diff=max_abs,
               reference_max_abs=scale, relative=max_abs / scale if scale else None, tolerance=tolerance,
               min_cosine=cosine, top1_agree=top1)
    if scale == 0:
        row.update(passed=max_abs == 0, note="reference logits all zero: checks only that zeros come back")
    elif precision == "fp16" and scale < FP16_SMALLEST_NORMAL:
        row.update(passed=None, note="reference logits below FP16's smallest normal number: not comparable")
    else:
        row.update(passed=row["relative"] <= tolerance)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True)
    parser.add_argument("--stubs", required=True, help="folder with the fovea.v1 Python stubs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("checks", nargs="+")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc

    pixels = frames(args.frames, args.seed)
    results = []
    with grpc.insecure_channel(args.target, options=[("grpc.max_receive_message_length", 64 << 20),
                                                     ("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        for check in args.checks:
            model, reference, precision, tolerance = check.split(":")
            try:
                row = compare(model, reference, precision, float(tolerance),
                              logits(stub, inference_pb2, image_pb2, model, pixels),
                              logits(stub, inference_pb2, image_pb2, reference, pixels))
            except grpc.RpcError as e:
                row = dict(model=model, reference=reference, precision=precision, passed=False,
                           error=f"{e.code().name}: {e.details()}")
            results.append(row)
            print("parity " + " ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in row.items()), flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    sys.exit(1 if any(r["passed"] is False for r in results) else 0)


if __name__ == "__main__":
    main()
