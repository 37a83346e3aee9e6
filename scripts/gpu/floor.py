"""The floor of the device check: the same TorchScript model driven straight from PyTorch in one process, no gRPC.
Work per call is what the server does for a raw-frame request: uint8 HWC frames in pageable host memory -> device ->
NCHW float, /255, mean/std -> forward -> logits back to the host. FP32, and FP16 with channels_last (the model's
`precision: FP16` + `channels_last: true`) where the device runs it: FP16 convolutions do not run on the CPU, so
there it prints "skipped on cpu".

    python3 scripts/gpu/floor.py --device cuda:0 --batches 1,64 --seconds 1.5 --precisions fp32,fp16 \
        --out floor.json MODELS_DIR NAME...

Writes {name: {precision: {batch: {p50_ms, p99_ms, img_s, calls}}}}; MODELS_DIR/NAME.pt is each model.
"""
import argparse
import json
import time

import torch

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
WARM_UP_CALLS = 10


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name, path, device, precision, batches, seconds):
    half = precision == "fp16"
    module = torch.jit.load(path, map_location=device).eval()
    if half:
        module = module.half().to(memory_format=torch.channels_last)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    rows = {}
    for batch in batches:
        frames = torch.randint(0, 256, (batch, 224, 224, 3), dtype=torch.uint8)

        def once():
            with torch.inference_mode():
                x = frames.to(device).permute(0, 3, 1, 2).float().div_(255).sub_(mean).div_(std)
                if half:
                    x = x.half().contiguous(memory_format=torch.channels_last)
                return module(x).float().cpu()

        for _ in range(WARM_UP_CALLS):
            once()
        synchronize(device)
        latencies = []
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            call = time.perf_counter()
            once()
            latencies.append(time.perf_counter() - call)
        elapsed = time.perf_counter() - start
        row = dict(p50_ms=1e3 * percentile(latencies, 0.5), p99_ms=1e3 * percentile(latencies, 0.99),
                   img_s=len(latencies) * batch / elapsed, calls=len(latencies))
        rows[batch] = row
        print(f"floor {name} {precision} {device} b{batch}: p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms,"
              f" {row['img_s']:.1f} img/s ({row['calls']} calls)", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--seconds", type=float, default=1.5, help="measured seconds per batch size")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--out", required=True)
    parser.add_argument("models_dir")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    results = {}
    for name in args.names:
        results[name] = {}
        for precision in args.precisions.split(","):
            if precision == "fp16" and device.type == "cpu":
                print(f"floor {name} fp16: skipped on cpu (FP16 convolutions do not run on the CPU)", flush=True)
                continue
            try:
                results[name][precision] = measure(name, f"{args.models_dir}/{name}.pt", device, precision,
                                                   batches, args.seconds)
            except Exception as e:  # one failing model or precision must not lose the others' rows
                print(f"floor {name} {precision}: failed: {e}", flush=True)
                results[name][precision] = {"error": str(e)}
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
