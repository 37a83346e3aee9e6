"""Summarises a benchmarks/load.sh run against the throughput issue's targets, from fovea-bench's JSON files.

    /usr/bin/python3 benchmarks/python/summarize_load.py OUT_DIR MODEL...

The first MODEL is the one the Python server ran.
"""
import json
import os
import sys


def levels(out, name):
    path = os.path.join(out, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["levels"]


def level(rows, mode, concurrency):
    return next(r for r in rows if r["mode"] == mode and r["concurrency"] == concurrency)


def main(out, models):
    print("| model | mode | batch-1 p50 e2e / floor | c=16 req/s, no batching | c=16 req/s, dynamic batching"
          " | batching / none | batched / floor's best images/s |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        plain, batched = levels(out, model), levels(out, model + "-batched")
        floors = [r for r in plain if r["mode"] == "floor"]
        latency_floor = level(plain, "floor", 1)
        best = max(floors, key=lambda r: r["throughput_per_s"])
        for mode in ("unary", "stream"):
            one, none16, dyn16 = level(plain, mode, 1), level(plain, mode, 16), level(batched, mode, 16)
            print(f"| {model} | {mode} | {one['p50_ms'] / latency_floor['p50_ms']:.2f} "
                  f"({one['p50_ms']:.2f} / {latency_floor['p50_ms']:.2f} ms) | {none16['throughput_per_s']:.1f} "
                  f"| {dyn16['throughput_per_s']:.1f} | {dyn16['throughput_per_s'] / none16['throughput_per_s']:.2f} "
                  f"| {dyn16['throughput_per_s'] / best['throughput_per_s']:.2f} (floor batch {best['concurrency']}: "
                  f"{best['throughput_per_s']:.1f}) |")
    model = models[0]
    pythons = sorted(name[len("python-"):-len("-" + model + ".json")] for name in os.listdir(out)
                     if name.startswith("python-w") and name.endswith("-" + model + ".json"))
    for workers in pythons:
        python = levels(out, f"python-{workers}-{model}")
        print()
        print(f"| {model}, c=16 | server | req/s | p99 ms | Fovea / Python req/s | Fovea / Python p99 |")
        print("|---|---|---|---|---|---|")
        for mode in ("unary", "stream"):
            py = level(python, mode, 16)
            print(f"| {mode} | Python (grpcio + torch, {workers[1:]} workers) | {py['throughput_per_s']:.1f} "
                  f"| {py['p99_ms']:.1f} | | |")
            for label, rows in (("Fovea", levels(out, model)),
                                ("Fovea, dynamic batching", levels(out, model + "-batched"))):
                fv = level(rows, mode, 16)
                print(f"| {mode} | {label} | {fv['throughput_per_s']:.1f} | {fv['p99_ms']:.1f} "
                      f"| {fv['throughput_per_s'] / py['throughput_per_s']:.2f} "
                      f"| {fv['p99_ms'] / py['p99_ms']:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
