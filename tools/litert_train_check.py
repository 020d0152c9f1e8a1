#!/usr/bin/env python3
"""LiteRT check of the models ferrolite's training commands write (CI; ai-edge-litert + numpy).

    tools/.venv/bin/python tools/litert_train_check.py --ferrolite target/release/ferrolite --out DIR

Runs `ferrolite prune` (constant / polynomial schedules, 1x4 blocks, 2:4, --skip), `qat` (plain,
--io int8, --skip, --preserve-sparsity, --preserve-clusters) and `cluster` (every --init,
--preserve-sparsity), built with `--features train`, on the digits fixtures and on the Keras 3 model
tests/fixtures/train/k3_branchy.keras (which tfmot refuses), one epoch each, with
`--eval digits_test.npz --json`. Every written .tflite is then loaded in LiteRT (TFLite's
built-in kernels, 1 thread) and must reproduce ferrolite's own numbers:

* top-1 accuracy on the 450 test digits equal to the one ferrolite reported from its
  interpreter (int8 models: exactly, our int8 kernels are bit-exact with TFLite's; float
  models: within one sample, float summation order may flip a near tie);
* the structure ferrolite reported, read back from the file's constant tensors in LiteRT:
  per-layer zeros for pruning, at most N unique values per clustered kernel, int8 weights that
  keep the pruned zeros (PQAT) or at most N values per output channel (CQAT).

Ends with `N passed, M failed`; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
TRAIN = os.path.join(FIX, "digits_train.npz")
TEST = os.path.join(FIX, "digits_test.npz")
CLUSTERS = 16


def ferrolite_json(binary: str, args: list[str]) -> dict:
    cmd = [binary, *args, "--data", TRAIN, "--epochs", "1", "--eval", TEST, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def litert(path: str):
    """(top-1 accuracy on the test digits, {tensor name: constant array})."""
    data = np.load(TEST)
    x, y = data["x"], data["y"]
    it = fixture_io.make_interpreter(path, reference=True)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], fixture_io.prepare_input(inp, x))
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    acc = float(np.mean(np.argmax(out, axis=1) == y))
    consts = {}
    for d in it.get_tensor_details():
        try:
            v = it.get_tensor(d["index"])
        except ValueError:
            continue
        if v.ndim >= 2 and d["name"]:
            consts[d["name"]] = v
    return acc, consts


def kernel(consts: dict, name: str) -> np.ndarray:
    if name in consts:
        return consts[name]
    raise KeyError(f"kernel {name!r} not among the file's tensors")


def check_accuracy(report_acc: float, got: float, int8: bool) -> str | None:
    tol = 0.0 if int8 else 1.0 / 450 + 1e-9
    if abs(report_acc - got) > tol:
        return f"LiteRT accuracy {got:.4f} != ferrolite's {report_acc:.4f}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferrolite", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    f = lambda name: os.path.join(a.out, name)  # noqa: E731
    k3 = os.path.join(FIX, "train", "k3_branchy.keras")
    results: list[tuple[str, str | None]] = []
    reports: dict[str, dict] = {}  # output file -> ferrolite's JSON report

    def case(label: str, fn) -> None:
        try:
            err = fn()
        except Exception as e:  # noqa: BLE001 - reported as a failure
            err = f"{type(e).__name__}: {e}"
        results.append((label, err))
        print(f"{'ok  ' if err is None else 'FAIL'} {label}" + ("" if err is None else f": {err}"))

    def prune(src: str, out: str, extra: list[str]):
        def run():
            r = ferrolite_json(a.ferrolite, ["prune", src, "-o", out, *extra])
            reports[out] = r
            acc, consts = litert(out)
            if err := check_accuracy(r["accuracy_after"], acc, int8=False):
                return err
            for layer in r["layers"]:
                w = kernel(consts, layer["tensor"])
                zeros = int(np.sum(w == 0))
                if zeros != layer["zeros"]:
                    return f"{layer['layer']}: {zeros} zeros in LiteRT, {layer['zeros']} reported"
            return None

        return run

    def cluster(src: str, out: str, extra: list[str] = (), n: int = CLUSTERS, zeros_of=None):
        """`ferrolite cluster --clusters n`: <= n values per kernel; with `zeros_of` (a pruned
        file, --preserve-sparsity) every pruned zero is still zero."""

        def run():
            args = ["cluster", src, "-o", out, "--clusters", str(n), *extra]
            r = ferrolite_json(a.ferrolite, args)
            reports[out] = r
            acc, consts = litert(out)
            if err := check_accuracy(r["accuracy_after"], acc, int8=False):
                return err
            pruned = litert(zeros_of)[1] if zeros_of else {}
            for layer in r["layers"]:
                if layer["clustered"]:
                    w = kernel(consts, layer["tensor"])
                    u = np.unique(w).size
                    if u > n or u != layer["unique"]:
                        return f"{layer['layer']}: {u} unique values ({layer['unique']} reported)"
                    if zeros_of:
                        lost = int(np.sum((kernel(pruned, layer["tensor"]) == 0) & (w != 0)))
                        if lost:
                            return f"{layer['layer']}: {lost} pruned zeros became non-zero"
            return None

        return run

    def qat(src: str, out: str, extra: list[str], check=None):
        def run():
            r = ferrolite_json(a.ferrolite, ["qat", src, "-o", out, *extra])
            acc, consts = litert(out)
            if err := check_accuracy(r["accuracy_int8"], acc, int8=True):
                return err
            return check(consts) if check else None

        return run

    def keeps_zeros(pruned: str):
        """Every zero of the pruned float kernels is a zero of the int8 kernel of that name."""

        def check(consts):
            _, fconsts = litert(pruned)
            for layer in reports[pruned]["layers"]:
                name = layer["tensor"]
                f, q = kernel(fconsts, name), kernel(consts, name)
                if q.dtype != np.int8:
                    return f"{name} is {q.dtype} in the QAT model"
                revived = int(np.sum((f == 0) & (q != 0)))
                if revived:
                    return f"{name}: {revived} pruned weights are non-zero in int8"
            return None

        return check

    def per_channel_clusters(clustered: str):
        """Every int8 kernel keeps at most CLUSTERS values per output channel."""

        def check(consts):
            for layer in reports[clustered]["layers"]:
                if not layer["clustered"]:
                    continue
                q = kernel(consts, layer["tensor"])
                rows = q.reshape(q.shape[0], -1)  # conv / dense: output channels first
                worst = max(np.unique(r).size for r in rows)
                if q.dtype != np.int8 or worst > CLUSTERS:
                    return f"{layer['tensor']}: {q.dtype}, {worst} values in one channel"
            return None

        return check

    mlp = os.path.join(FIX, "mlp", "mlp_float32.tflite")
    cnn = os.path.join(FIX, "cnn_bn", "cnn_bn_float32.tflite")
    case("prune mlp constant 0.5", prune(mlp, f("mlp_p50.tflite"), ["--frequency", "10"]))
    case(
        "prune cnn_bn constant 0.8",
        prune(cnn, f("cnn_p80.tflite"), ["--schedule", "constant:0.8", "--frequency", "10"]),
    )
    case("prune k3_branchy (Keras 3)", prune(k3, f("k3_p50.tflite"), ["--frequency", "10"]))
    case("cluster mlp 16", cluster(mlp, f("mlp_c16.tflite")))
    case("cluster k3_branchy 16 (Keras 3)", cluster(k3, f("k3_c16.tflite")))
    cnn_keras = os.path.join(FIX, "cnn_bn", "cnn_bn.keras")
    case("qat cnn_bn.keras", qat(cnn_keras, f("cnn_qat.tflite"), []))
    case(
        "qat cnn_bn.keras --unfold-batch-norm",
        qat(cnn_keras, f("cnn_qat_bn.tflite"), ["--unfold-batch-norm"]),
    )
    case("qat k3_branchy (Keras 3)", qat(k3, f("k3_qat.tflite"), []))
    case(
        "qat k3_branchy --init-ranges first-batch --keep-best none",
        qat(k3, f("k3_qat_fb.tflite"), ["--init-ranges", "first-batch", "--keep-best", "none"]),
    )
    case(
        "pqat mlp (prune -> qat --preserve-sparsity)",
        qat(
            f("mlp_p50.tflite"),
            f("mlp_pqat.tflite"),
            ["--preserve-sparsity"],
            keeps_zeros(f("mlp_p50.tflite")),
        ),
    )
    case(
        "cqat mlp (cluster -> qat --preserve-clusters)",
        qat(
            f("mlp_c16.tflite"),
            f("mlp_cqat.tflite"),
            ["--preserve-clusters"],
            per_channel_clusters(f("mlp_c16.tflite")),
        ),
    )
    # The other flags of each command: structures and schedules of prune, every centroid
    # initialization and --preserve-sparsity of cluster, depthwise / residual models, int8 I/O
    # and per-layer opt-out of qat. Every file must run in LiteRT with ferrolite's numbers.
    dwsep = os.path.join(FIX, "dwsep_res", "dwsep_res_float32.tflite")
    case(
        "prune mlp --block 1x4 --block-pooling max",
        prune(
            mlp,
            f("mlp_b14max.tflite"),
            ["--frequency", "10", "--block", "1x4", "--block-pooling", "max"],
        ),
    )
    case(
        "prune cnn_bn --m-by-n 2:4",
        prune(cnn, f("cnn_2of4.tflite"), ["--frequency", "10", "--m-by-n", "2:4"]),
    )
    case(
        "prune cnn_bn polynomial:0.0,0.8,power=3 --begin-step 5 --end-step 30",
        prune(
            cnn,
            f("cnn_poly.tflite"),
            ["--schedule", "polynomial:0.0,0.8,power=3", "--begin-step", "5", "--end-step", "30",
             "--frequency", "5"],
        ),
    )
    case(
        "prune dwsep_res --skip probs",
        prune(dwsep, f("dwsep_p50.tflite"), ["--frequency", "10", "--skip", "probs"]),
    )
    for init in ("linear", "density", "random"):
        out = f(f"cnn_c16_{init}.tflite")
        case(f"cluster cnn_bn --init {init}", cluster(cnn, out, ["--init", init]))
    case(
        "cluster mlp pruned 50% --preserve-sparsity, 8 clusters",
        cluster(
            f("mlp_p50.tflite"),
            f("mlp_p50_c8.tflite"),
            ["--preserve-sparsity"],
            n=8,
            zeros_of=f("mlp_p50.tflite"),
        ),
    )
    case("qat dwsep_res float .tflite", qat(dwsep, f("dwsep_qat.tflite"), []))
    case("qat mlp --io int8", qat(mlp, f("mlp_qat_io8.tflite"), ["--io", "int8"]))
    case("qat cnn_bn --skip conv2", qat(cnn, f("cnn_qat_skip.tflite"), ["--skip", "conv2"]))
    # A Keras 3 model with TANH, HARD_SWISH and a LOGISTIC gate (fixed-grid int8 outputs).
    k3a = os.path.join(FIX, "train", "k3_acts.keras")
    case(
        "prune k3_acts (TANH / HARD_SWISH / LOGISTIC)",
        prune(k3a, f("k3a_p50.tflite"), ["--frequency", "10"]),
    )
    case("cluster k3_acts 16", cluster(k3a, f("k3a_c16.tflite")))
    case("qat k3_acts", qat(k3a, f("k3a_qat.tflite"), []))
    failed = sum(1 for _, e in results if e is not None)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
