"""The report of the device check (scripts/gpu/device-run.sh): reads its work folder and writes OUT/summary.json
(every figure below plus each step's outcome) and OUT/summary.md (the same as markdown tables, also printed). A
figure whose step failed or did not run is null in the JSON and "–" in the tables.

    python3 scripts/gpu/report.py --mode gpu --device cuda:0 --cpu-models "mobilenet_v3_small resnet50" WORK OUT
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys

STAGES = ("queue", "preprocess", "inference", "postprocess")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def level(bench, mode, concurrency=None):
    """A fovea-bench level (mode, concurrency) or, without concurrency, the mode's only level."""
    for row in (bench or {}).get("levels", []):
        if row["mode"] == mode and (concurrency is None or row["concurrency"] == concurrency):
            return row
    return None


def get(row, *keys):
    for key in keys:
        if row is None:
            return None
        row = row.get(key)
    return row


def ratio(a, b):
    return a / b if a is not None and b else None


def difference(a, b):
    return a - b if a is not None and b is not None else None


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.{digits}g}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(fmt(v) if not isinstance(v, str) else v for v in row) + " |" for row in rows]
    return "\n".join(lines)


def device_rows(work, floor):
    """Per model and precision: floor against fovea serve at batch 1 and at the largest concurrency."""
    rows = []
    for path in sorted(glob.glob(os.path.join(work, "results", "gpu", "*-batched.json"))):
        name = os.path.basename(path)[:-len("-batched.json")]
        model, _, suffix = name.partition("-")
        precision = suffix or "fp32"
        batched, single = load(path), load(os.path.join(work, "results", "gpu", name + ".json"))
        floors = get(floor, model, precision) or {}
        batches = sorted(int(b) for b in floors if b.isdigit())
        floor_b1 = get(floors, "1", "p50_ms")
        floor_big = get(floors, str(batches[-1]), "img_s") if batches else None
        stream1, unary1 = level(single, "stream", 1), level(single, "unary", 1)
        many = level(batched, "stream")
        rows.append(dict(model=model, precision=precision, floor_b1_p50_ms=floor_b1,
                         stream_b1_p50_ms=get(stream1, "p50_ms"), unary_b1_p50_ms=get(unary1, "p50_ms"),
                         stream_minus_floor_ms=difference(get(stream1, "p50_ms"), floor_b1),
                         floor_batch=batches[-1] if batches else None, floor_big_img_s=floor_big,
                         concurrency=get(many, "concurrency"), many_img_s=get(many, "throughput_per_s"),
                         many_mean_batch=get(many, "server_ms", "mean_batch"),
                         many_over_floor=ratio(get(many, "throughput_per_s"), floor_big),
                         stages_b1_stream_ms={s: get(stream1, "server_ms", s) for s in STAGES},
                         stages_many_ms={s: get(many, "server_ms", s) for s in STAGES}))
    return rows


def peer_rows(work):
    rows = []
    for path in sorted(glob.glob(os.path.join(work, "results", "gpu", "python-*.json"))):
        if path.endswith("-many.json"):
            continue
        model = os.path.basename(path)[len("python-"):-len(".json")]
        python, python_many = load(path), load(path[:-len(".json")] + "-many.json")
        fovea = load(os.path.join(work, "results", "gpu", model + ".json"))
        fovea_many = load(os.path.join(work, "results", "gpu", model + "-batched.json"))
        for label, py, fv in (("c=1 unary", level(python, "unary", 1), level(fovea, "unary", 1)),
                              ("c=1 stream", level(python, "stream", 1), level(fovea, "stream", 1)),
                              ("c=many stream", level(python_many, "stream"), level(fovea_many, "stream"))):
            rows.append(dict(model=model, level=label, concurrency=get(py, "concurrency"),
                             python_p50_ms=get(py, "p50_ms"), python_per_s=get(py, "throughput_per_s"),
                             fovea_p50_ms=get(fv, "p50_ms"), fovea_per_s=get(fv, "throughput_per_s"),
                             fovea_over_python_per_s=ratio(get(fv, "throughput_per_s"), get(py, "throughput_per_s")),
                             fovea_over_python_p50=ratio(get(fv, "p50_ms"), get(py, "p50_ms"))))
    return rows


def cpu_matrix(work, models):
    """benchmarks/python/summarize_load.py on the CPU matrix's files (the tables of docs/benchmarks.md)."""
    script = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "python", "summarize_load.py")
    try:
        done = subprocess.run([sys.executable, script, os.path.join(work, "results", "cpu"), *models],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "(summarize_load.py timed out)"
    if done.returncode != 0:
        return "(no CPU matrix: summarize_load.py failed: " + (done.stderr.strip().splitlines() or ["?"])[-1] + ")"
    return done.stdout.strip()


def fp16_equals_fp32(parity):
    """Models whose FP16 row differs from the CPU exactly as much as the FP32 row does (non-zero): FP16 not applied."""
    fp32 = {p["reference"]: p.get("max_abs_diff") for p in parity if p.get("precision") == "fp32"}
    return [p["model"] for p in parity if p.get("precision") == "fp16" and p.get("max_abs_diff")
            and p.get("max_abs_diff") == fp32.get(p["reference"])]


def markdown(summary):
    env = summary["env"] or {}
    parts = [f"# Fovea GPU check, {summary['date']} ({summary['mode']} mode, device {summary['device']})", "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    steps = summary["steps"]
    counts = {}
    for s in steps:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    parts += ["Steps: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
              + f", {sum(s['seconds'] for s in steps)} s in steps.", "",
              table(["step", "status", "s", "note"],
                    [[s["step"], s["status"], s["seconds"], s["note"] if s["status"] != "ok" else ""]
                     for s in steps]), ""]
    rows = summary["device_serving"]
    parts += ["## fovea serve on the device against the PyTorch floor", "",
              table(["model", "precision", "floor b1 p50 ms", "Fovea b1 stream p50 ms (unary)", "stream − floor ms",
                     "floor img/s (batch)", "Fovea stream img/s (c, mean batch)", "Fovea / floor img/s"],
                    [[r["model"], r["precision"], r["floor_b1_p50_ms"],
                      f"{fmt(r['stream_b1_p50_ms'])} ({fmt(r['unary_b1_p50_ms'])})", r["stream_minus_floor_ms"],
                      f"{fmt(r['floor_big_img_s'], 0)} ({fmt(r['floor_batch'])})",
                      f"{fmt(r['many_img_s'], 0)} ({fmt(r['concurrency'])}, {fmt(r['many_mean_batch'], 1)})",
                      r["many_over_floor"]] for r in rows]), "",
              "Server stages (ms, means from the results' timings): b1 stream | c=many stream, batched", "",
              table(["model", "precision"] + [f"{s} b1" for s in STAGES] + [f"{s} many" for s in STAGES],
                    [[r["model"], r["precision"]] + [r["stages_b1_stream_ms"][s] for s in STAGES]
                     + [r["stages_many_ms"][s] for s in STAGES] for r in rows]), ""]
    parts += ["## Device outputs against CPU outputs (same TorchScript file, same frames)", "",
              table(["model", "reference", "precision", "frames", "max abs diff", "reference max abs", "relative",
                     "tolerance", "min cosine", "top-1 agree", "result"],
                    [[p.get("model"), p.get("reference"), p.get("precision"), p.get("frames"),
                      p.get("max_abs_diff"), p.get("reference_max_abs"), fmt(p.get("relative"), 5),
                      p.get("tolerance"), fmt(p.get("min_cosine"), 6), p.get("top1_agree"),
                      "error: " + p["error"] if "error" in p else
                      fmt(p.get("passed")) + (" (" + p["note"] + ")" if "note" in p else "")]
                     for p in summary["parity"] or []]), ""]
    same = fp16_equals_fp32(summary["parity"] or [])
    if same:
        parts += ["FP16 outputs equal the FP32 outputs bit for bit for " + ", ".join(same)
                  + ": the server did not run those models in FP16.", ""]
    parts += ["## The Python comparison server on the device (grpcio + torch, no batching)", "",
              table(["model", "level", "Python p50 ms", "Python req/s", "Fovea p50 ms", "Fovea req/s",
                     "Fovea / Python req/s", "Fovea / Python p50"],
                    [[r["model"], f"{r['level']} ({fmt(r['concurrency'])})", r["python_p50_ms"], r["python_per_s"],
                      r["fovea_p50_ms"], r["fovea_per_s"], r["fovea_over_python_per_s"], r["fovea_over_python_p50"]]
                     for r in summary["python_peer"]]), ""]
    parts += ["## CPU matrix (docs/benchmarks.md's tables; server and load generator on separate cores when "
              "there are 8 or more)", "", summary["cpu_matrix"], ""]
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--cpu-models", default="")
    parser.add_argument("work")
    parser.add_argument("out")
    args = parser.parse_args()
    results = os.path.join(args.work, "results")
    with open(os.path.join(results, "steps.jsonl")) as f:
        steps = [json.loads(line) for line in f if line.strip()]
    summary = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   mode=args.mode, device=args.device, env=load(os.path.join(results, "env.json")), steps=steps,
                   device_serving=device_rows(args.work, load(os.path.join(results, "floor.json"))),
                   parity=load(os.path.join(results, "parity.json")), python_peer=peer_rows(args.work),
                   cpu_matrix=cpu_matrix(args.work, args.cpu_models.split()))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    text = markdown(summary)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
