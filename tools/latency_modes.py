#!/usr/bin/env python3
"""Per-process latency distribution of `ferrolite bench` (issue #9).

A single `ferrolite bench` run reports the median over its own runs, which hides effects that
are fixed for the life of a process (physical page placement, cache-set conflicts of the
packed weights). This script launches N separate processes per (binary, model) pair,
interleaved so that machine noise hits every pair alike, and prints every process's median,
sorted, plus the median of medians and the spread, so a bimodal distribution is visible, and
for every extra binary / --env variant the median of per-round paired ratios against the first.

Finding (issue #9, this 2-vCPU KVM machine): the bimodality is NOT per process. One interpreter
(same allocations, same physical pages) switches between a fast (~0.255 ms int8) and a slow
(~0.39 ms) phase lasting ~0.1-1 s, unaffected by load on the other vCPU; a single 300-run bench
process (~0.1 s) simply lands in one phase. Compare variants by the paired ratio, not by
absolute medians.

Usage:
  tools/latency_modes.py [--procs 12] [--runs 300] [--threads 1] [--bin target/release/ferrolite]
                         [--bin /tmp/old-ferrolite ...] [--env KEY=VAL ...] MODEL [MODEL ...]

Each --env KEY=VAL adds a variant run with that environment variable set, next to the plain run
(e.g. `--env FERROLITE_HUGEPAGES=on` compares huge-page weight storage with plain heap storage
in one binary).

Standard library only (any python3 works). The lead's machine lock is the caller's business:
wrap the call in `flock /tmp/ferrolite-machine.lock ...` on a shared machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def one_median(binary, model, runs, threads, warmup, env):
    """Runs one bench process (extra environment `env`) and returns its median latency in ms."""
    cmd = [
        binary,
        "bench",
        "--json",
        "--threads",
        str(threads),
        "--runs",
        str(runs),
        "--warmup",
        str(warmup),
        model,
    ]
    full_env = dict(os.environ, **env)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=full_env).stdout
    return json.loads(out)["latency_ms"]["median"]


def describe(medians):
    """One line: sorted medians, median of medians, min/max and a crude two-mode split."""
    s = sorted(medians)
    mid = statistics.median(s)
    # Two-mode split at the largest gap between consecutive sorted medians; reported only when
    # the gap is large (>15% of the median), i.e. when the distribution is visibly bimodal.
    gaps = [(s[i + 1] - s[i], i) for i in range(len(s) - 1)]
    gap, at = max(gaps) if gaps else (0.0, 0)
    split = ""
    if gap > 0.15 * mid:
        lo, hi = s[: at + 1], s[at + 1 :]
        split = (
            f"  BIMODAL: {len(lo)} fast (med {statistics.median(lo):.3f})"
            f" / {len(hi)} slow (med {statistics.median(hi):.3f})"
        )
    values = " ".join(f"{m:.3f}" for m in s)
    q25 = s[len(s) // 4]
    return f"median {mid:.3f}  q25 {q25:.3f}  min {s[0]:.3f}  max {s[-1]:.3f}{split}\n    [{values}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--bin", action="append", dest="bins")
    ap.add_argument("--procs", type=int, default=12)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--env", action="append", default=[], help="KEY=VAL variant")
    a = ap.parse_args()
    bins = a.bins or ["target/release/ferrolite"]
    envs = [""] + a.env
    pairs = [(b, m, e) for m in a.models for b in bins for e in envs]
    results = {p: [] for p in pairs}
    for _ in range(a.procs):
        for b, m, e in pairs:
            env = dict([e.split("=", 1)]) if e else {}
            results[(b, m, e)].append(one_median(b, m, a.runs, a.threads, a.warmup, env))
    for (b, m, e), meds in results.items():
        name = m.rsplit("/", 1)[-1]
        tag = f" [{e}]" if e else ""
        print(f"{name}  {b}{tag}  ({a.procs} procs x {a.runs} runs, {a.threads} thread(s))")
        print("  " + describe(meds))
        base = results[(bins[0], m, "")]
        if meds is not base:
            # Paired ratios: processes of one round ran back to back, so they mostly share the
            # machine's (slowly changing) speed phase; the median ratio cancels it.
            ratios = sorted(x / y for x, y in zip(meds, base))
            print(
                f"  paired ratio vs {bins[0]}: median {statistics.median(ratios):.3f}"
                f"  (IQR {ratios[len(ratios) // 4]:.3f}..{ratios[3 * len(ratios) // 4]:.3f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
