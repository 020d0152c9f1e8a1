#!/usr/bin/env python3
"""Side-by-side latency of ferrolite and LiteRT on the same .tflite files and inputs.

    cargo build --release -p ferrolite
    tools/.venv/bin/python tools/bench_vs_litert.py [--runs 50] [--rounds 3] [--threads 1 2]
                                                     [--only mobilenet] [--json out.json]
                                                     [--models 'target/bench-models/ops/*.tflite']

For every model (the digits fixtures tests/fixtures/{cnn_bn,dwsep_res,mlp}/*_{float32,dynamic,
int8,float16}.tflite plus the MobileNetV2-like models from tools/make_bench_models.py, generated
into target/bench-models/ on first use) and every thread count, it measures

* LiteRT (ai-edge-litert, default interpreter = XNNPACK delegate, ``num_threads=T``): ``--warmup``
  untimed invokes, then ``--runs`` timed ``invoke()`` calls; the median;
* ferrolite: ``ferrolite bench --json --threads T --warmup W --runs N``; its median.

Both get the same inputs: ``ferrolite bench`` fills inputs with a seeded SplitMix64 stream
(f32 in [0, 1), int8/uint8 from the low byte), which is reproduced here bit for bit. The two
engines are measured alternately ``--rounds`` times and the median of the per-round medians is
reported, which damps the noise of a shared machine. ``--models GLOB`` (relative to the repo, or
absolute) replaces the default list, e.g. with the single-op models of
``make_bench_models.py --ops`` for a per-operator comparison. The ratio is ferrolite / LiteRT (below 1
means ferrolite is faster); "vs f32" is ferrolite's time relative to its own float32 variant of
the same model. A model ferrolite cannot run shows its error instead of a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

DIGITS = ["cnn_bn", "dwsep_res", "mlp"]
VARIANTS = ["float32", "dynamic", "int8", "float16"]

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def splitmix(seed: int, n: int) -> np.ndarray:
    """The first `n` outputs of ferrolite's SplitMix64 seeded with `seed` (uint64)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def ferrolite_input(dtype, shape, k: int) -> np.ndarray:
    """The array `ferrolite bench` feeds to input number `k`."""
    n = int(np.prod(shape)) if len(shape) else 1
    r = splitmix(0x5EED + k, n)
    if dtype == np.float32:
        v = (r >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    elif dtype == np.int8:
        v = (r & np.uint64(0xFF)).astype(np.uint8).view(np.int8)
    elif dtype == np.uint8:
        v = (r & np.uint64(0xFF)).astype(np.uint8)
    else:
        raise SystemExit(f"unsupported input dtype {dtype}")
    return v.reshape(shape)


def glob_models(pattern: str) -> list[tuple[str, str, Path]]:
    """The .tflite files matching `pattern` (relative to the repo unless absolute), sorted."""
    base = Path(pattern)
    if base.is_absolute():
        found = sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
    else:
        found = sorted(REPO.glob(pattern))
    return [(p.stem, "model", p) for p in found]


def model_list(only: str | None) -> list[tuple[str, str, Path]]:
    import make_bench_models

    models = []
    for name in DIGITS:
        for v in VARIANTS:
            models.append((name, v, REPO / "tests" / "fixtures" / name / f"{name}_{v}.tflite"))
    if only is None or only in make_bench_models.NAME or "mobilenet" in only:
        paths = make_bench_models.model_paths(make_bench_models.DEFAULT_OUT)
        if not all(p.exists() for p in paths.values()):
            print("generating MobileNetV2-like models (once) ...", file=sys.stderr)
            subprocess.run(
                [sys.executable, str(REPO / "tools" / "make_bench_models.py")], check=True
            )
        for v, p in paths.items():
            models.append((make_bench_models.NAME, v, p))
    if only:
        models = [m for m in models if only in m[0] or only == m[1]]
    return models


class LiteRT:
    """One LiteRT interpreter per (model, threads), inputs set once."""

    def __init__(self, path: Path, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        for k, d in enumerate(self.interp.get_input_details()):
            self.interp.set_tensor(d["index"], ferrolite_input(d["dtype"], d["shape"], k))

    def measure(self, warmup: int, runs: int) -> float:
        invoke = self.interp.invoke
        for _ in range(warmup):
            invoke()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            invoke()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def ferrolite_median(exe: Path, path: Path, threads: int, warmup: int, runs: int) -> float:
    cmd = [str(exe), "bench", "--json", "--threads", str(threads), "--warmup", str(warmup)]
    cmd += ["--runs", str(runs), str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        msg = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"
        raise RuntimeError(msg)
    return float(json.loads(res.stdout)["latency_ms"]["median"])


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if v < 0.1 else (f"{v:.3f}" if v < 10 else f"{v:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    ap.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", help="substring of the model name, or a variant name")
    ap.add_argument("--exe", type=Path, default=REPO / "target" / "release" / "ferrolite")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--models", help="glob of .tflite files to measure instead of the defaults")
    args = ap.parse_args()
    if not args.exe.exists():
        raise SystemExit(f"{args.exe} missing: run `cargo build --release -p ferrolite`")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    rows = []
    models = glob_models(args.models) if args.models else model_list(args.only)
    if args.models and args.only:
        models = [m for m in models if args.only in m[0]]
    if not models:
        raise SystemExit("no models matched")
    for name, variant, path in models:
        for threads in args.threads:
            row = {"model": name, "variant": variant, "threads": threads}
            lite, ours, error = [], [], None
            try:
                engine = LiteRT(path, threads)
            except Exception as e:  # noqa: BLE001
                engine, row["litert_error"] = None, str(e).splitlines()[0]
            for _ in range(args.rounds):
                if engine is not None:
                    lite.append(engine.measure(args.warmup, args.runs))
                if error is None:
                    try:
                        ours.append(ferrolite_median(args.exe, path, threads, args.warmup, args.runs))
                    except RuntimeError as e:
                        error = str(e)
            row["litert_ms"] = statistics.median(lite) if lite else None
            row["ferrolite_ms"] = statistics.median(ours) if ours and error is None else None
            if error:
                row["ferrolite_error"] = error
            if row["litert_ms"] and row["ferrolite_ms"]:
                row["ratio"] = row["ferrolite_ms"] / row["litert_ms"]
            rows.append(row)
            print(
                f"{name:20} {variant:8} t={threads} litert {fmt(row['litert_ms'])} ms"
                f"  ferrolite {fmt(row['ferrolite_ms'])} ms" + (f"  ({error})" if error else ""),
                file=sys.stderr,
            )

    own_f32 = {
        (r["model"], r["threads"]): r["ferrolite_ms"] for r in rows if r["variant"] == "float32"
    }
    print("| model | variant | threads | LiteRT ms | ferrolite ms | ratio | vs own f32 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        base = own_f32.get((r["model"], r["threads"]))
        vs = f"{r['ferrolite_ms'] / base:.2f}" if base and r["ferrolite_ms"] else "-"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        ours = fmt(r["ferrolite_ms"]) if r["ferrolite_ms"] is not None else "unsupported"
        print(
            f"| {r['model']} | {r['variant']} | {r['threads']} | {fmt(r['litert_ms'])} | {ours}"
            f" | {ratio} | {vs} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
