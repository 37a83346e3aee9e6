"""Summarises a benchmarks/load.sh run against the throughput issue's targets, from fovea-bench's JSON files.

    /usr/bin/python3 benchmarks/python/summarize_load.py OUT_DIR MODEL...

The first MODEL is the one the Python server ran. A figure that a run lacks (a level that did not run or completed no
request, e.g. in a run cut short) prints as "–".
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
    return next((r for r in rows or [] if r["mode"] == mode and r["concurrency"] == concurrency), None)


def figure(row, key):
    """The level's figure, or None for a missing level or a level that completed no request (NaN)."""
    value = row.get(key) if row else None
    return value if value == value else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(value, digits):
    return "–" if value is None else f"{value:.{digits}f}"


def main(out, models):
    print("| model | mode | batch-1 p50 e2e / floor | c=16 req/s, no batching | c=16 req/s, dynamic batching"
          " | batching / none | batched / floor's best images/s |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        plain, batched = levels(out, model), levels(out, model + "-batched")
        floors = [r for r in plain or [] if r["mode"] == "floor" and figure(r, "throughput_per_s")]
        latency_floor = figure(level(plain, "floor", 1), "p50_ms")
        best = max(floors, key=lambda r: r["throughput_per_s"]) if floors else None
        best_rate = figure(best, "throughput_per_s")
        for mode in ("unary", "stream"):
            one = figure(level(plain, mode, 1), "p50_ms")
            none16 = figure(level(plain, mode, 16), "throughput_per_s")
            dyn16 = figure(level(batched, mode, 16), "throughput_per_s")
            print(f"| {model} | {mode} | {fmt(ratio(one, latency_floor), 2)} "
                  f"({fmt(one, 2)} / {fmt(latency_floor, 2)} ms) | {fmt(none16, 1)} "
                  f"| {fmt(dyn16, 1)} | {fmt(ratio(dyn16, none16), 2)} "
                  f"| {fmt(ratio(dyn16, best_rate), 2)} (floor batch {best['concurrency'] if best else '–'}: "
                  f"{fmt(best_rate, 1)}) |")
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
            py_rate, py_p99 = figure(py, "throughput_per_s"), figure(py, "p99_ms")
            print(f"| {mode} | Python (grpcio + torch, {workers[1:]} workers) | {fmt(py_rate, 1)} "
                  f"| {fmt(py_p99, 1)} | | |")
            for label, rows in (("Fovea", levels(out, model)),
                                ("Fovea, dynamic batching", levels(out, model + "-batched"))):
                fv = level(rows, mode, 16)
                fv_rate, fv_p99 = figure(fv, "throughput_per_s"), figure(fv, "p99_ms")
                print(f"| {mode} | {label} | {fmt(fv_rate, 1)} | {fmt(fv_p99, 1)} "
                      f"| {fmt(ratio(fv_rate, py_rate), 2)} "
                      f"| {fmt(ratio(fv_p99, py_p99), 2)} |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
