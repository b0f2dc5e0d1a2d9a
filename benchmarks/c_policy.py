"""Batch-1 latency and footprint of the C export (``rlx2 export --format c``) against NumPy.

For a sparse run and a dense run of the same task (same actor shape), the script exports
each final actor as a policy file and as C (``auto`` layout; for the sparse run also every
layer CSR and every layer dense), compiles every C policy with a small timing harness (``cc -std=c99 -O2`` by
default) and times one observation per call:

- ``c_*``: the harness calls ``PREFIX_act`` on a cycle of observations (``clock_gettime``);
- ``numpy_*``: ``rlx2.deploy.load_policy(FILE)(obs)`` in-process (``auto`` execution, the
  default; the dense actor runs as BLAS, one thread).

A sample of a contender is the median over ``--blocks`` blocks of ``--calls`` calls (after
one untimed block): blocks of well under a millisecond fit in one scheduler time slice, so
on a busy machine the median block is one that was not preempted. The contenders' samples
alternate (the order rotates from repeat to repeat); the figures are medians over
``--repeats`` samples. Pin the whole script to one core (the harnesses inherit it):

    taskset -c 1 python benchmarks/c_policy.py --run RUN_DIR --dense-run RUN_DIR \\
        [--repeats 21] [--blocks 21] [--calls 20] [--cflags "-std=c99 -O2"] [--markdown docs/deploy.md]

Prints one JSON object on stdout (footprints in bytes, latencies in µs, the CPU model, the
compiler, the affinity). It also checks the C actions against the NumPy policy's on the
benchmark's observations and reports the largest difference.
"""

from __future__ import annotations

import os

# One BLAS thread, as on a small device and as in docs/deploy.md's NumPy figures; set
# before NumPy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.deploy import load_policy  # noqa: E402
from rlx2.deploy.export import export_c, export_policy  # noqa: E402
from rlx2.train.loop import machine_facts  # noqa: E402

HARNESS = r"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{prefix}.h"

/* {prefix}_bench OBS_FILE CALLS BLOCKS: after one untimed block, times BLOCKS blocks of CALLS
 * {prefix}_act calls each, cycling through the observations of OBS_FILE (float32
 * [N, OBS_DIM]), and prints the median block's mean ns per call.
 * {prefix}_bench OBS_FILE 0 0 OUT_FILE writes the action of every observation instead. */
#define MAX_OBS 4096
#define MAX_BLOCKS 1001
static float obs[MAX_OBS][{macro}_OBS_DIM];
static double block_ns[MAX_BLOCKS];

int main(int argc, char **argv) {{
    float action[{macro}_ACT_DIM];
    double sink = 0.0, t;
    long calls, blocks, b, i, j, n, next = 0;
    struct timespec start, stop;
    FILE *f;
    if (argc < 4 || !(f = fopen(argv[1], "rb"))) return 2;
    n = (long)fread(obs, sizeof obs[0], MAX_OBS, f);
    fclose(f);
    calls = atol(argv[2]);
    blocks = atol(argv[3]);
    if (n < 1 || blocks < 0 || blocks > MAX_BLOCKS) return 2;
    if (calls == 0) {{
        if (argc != 5 || !(f = fopen(argv[4], "wb"))) return 2;
        for (i = 0; i < n; ++i) {{
            {prefix}_act(obs[i], action);
            fwrite(action, sizeof action, 1, f);
        }}
        return fclose(f) != 0;
    }}
    for (b = -1; b < blocks; ++b) {{ /* block -1: warm-up (caches, page faults) */
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (i = 0; i < calls; ++i, next = (next + 1) % n) {{
            {prefix}_act(obs[next], action);
            sink += action[0]; /* a use of every result: no call can be optimised away */
        }}
        clock_gettime(CLOCK_MONOTONIC, &stop);
        t = ((stop.tv_sec - start.tv_sec) * 1e9 + (stop.tv_nsec - start.tv_nsec)) / calls;
        if (b >= 0) {{ /* insertion sort: the blocks stay ordered */
            for (j = b; j > 0 && block_ns[j - 1] > t; --j) block_ns[j] = block_ns[j - 1];
            block_ns[j] = t;
        }}
    }}
    printf("%.3f %g\n", block_ns[blocks / 2], sink);
    return 0;
}}
"""


def compile_harness(c_dir: Path, prefix: str, cc: str, cflags: list[str]) -> Path:
    harness = c_dir / f"{prefix}_bench.c"
    harness.write_text(HARNESS.format(prefix=prefix, macro=prefix.upper()))
    exe = c_dir / f"{prefix}_bench"
    cmd = [cc, *cflags, "-I", str(c_dir), str(harness), str(c_dir / f"{prefix}.c")]
    subprocess.run([*cmd, "-lm", "-o", str(exe)], check=True)
    return exe


def object_sizes(c_file: Path, cc: str, cflags: list[str]) -> dict[str, int] | None:
    """``size`` of the policy's object file alone (text = code + const data), if ``size`` exists."""
    if not shutil.which("size"):
        return None
    obj = c_file.with_suffix(".o")
    subprocess.run([cc, *cflags, "-c", str(c_file), "-o", str(obj)], check=True)
    fields = subprocess.run(["size", str(obj)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in fields.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="completed sparse run directory")
    parser.add_argument("--dense-run", type=Path, required=True, help="completed dense run")
    parser.add_argument("--repeats", type=int, default=21, help="samples per contender")
    parser.add_argument("--blocks", type=int, default=21, help="timed blocks per sample (<= 1001)")
    parser.add_argument("--calls", type=int, default=20, help="calls per block")
    parser.add_argument("--cc", default="cc")
    parser.add_argument("--cflags", default="-std=c99 -O2")
    parser.add_argument("--markdown", type=Path, help="write the tables into this markdown file")
    args = parser.parse_args()
    cc, cflags = shutil.which(args.cc), shlex.split(args.cflags)
    if cc is None:
        parser.error(f"no C compiler {args.cc!r} on PATH")

    work = Path(tempfile.mkdtemp(prefix="rlx2-c-bench-"))
    actors = {"sparse": args.run, "dense": args.dense_run}
    policies, c_exes, footprint = {}, {}, {}
    for name, run_dir in actors.items():
        file = work / f"{name}.safetensors"
        exported = export_policy(run_dir, file, dense=name == "dense")  # the smaller file
        policies[name] = load_policy(file)
        footprint[f"numpy_{name}"] = {
            "file_bytes": exported.file_bytes,
            "tensor_bytes": policies[name].nbytes,
            "num_active": exported.num_active,
            "num_weights": exported.num_weights,
            "execution": policies[name].execution,
        }
        layouts = {"c_" + name: "auto"}
        if name == "sparse":
            layouts |= {"c_sparse_csr_layout": "csr", "c_sparse_dense_layout": "dense"}
        for variant, layout in layouts.items():
            c_dir = work / variant
            result = export_c(run_dir, c_dir, prefix=variant, layout=layout)
            c_exes[variant] = compile_harness(c_dir, variant, cc, cflags)
            footprint[variant] = {
                "const_bytes": result.policy.const_bytes,
                "work_bytes": result.policy.work_bytes,
                "layouts": list(result.policy.layouts),
                "object": object_sizes(result.source_path, cc, cflags),
                "metadata": {k: result.metadata.get(k) for k in ("algo", "method", "env", "step")},
            }
    obs_dim = policies["sparse"].obs_dim
    assert policies["dense"].obs_dim == obs_dim, "the two runs' actors differ in shape"
    obs = np.random.default_rng(0).normal(size=(1000, obs_dim)).astype(np.float32)  # [1000, obs]
    obs_file = work / "obs.bin"
    obs.tofile(obs_file)

    max_diff = {}
    for variant, exe in c_exes.items():
        out = work / f"{variant}.actions"
        subprocess.run([str(exe), str(obs_file), "0", "0", str(out)], check=True)
        c_actions = np.fromfile(out, dtype=np.float32).reshape(len(obs), -1)
        reference = policies["dense" if variant == "c_dense" else "sparse"](obs)
        max_diff[variant] = float(np.abs(c_actions - reference).max())

    # Each sample: the median over --blocks short blocks of --calls calls (mean s per call).
    # Short blocks fit in one scheduler slice on a busy machine; the median block drops
    # the ones that were preempted. Samples of all contenders alternate (order rotating),
    # and the figure is the median over --repeats samples.
    def c_timer(exe: Path):
        def run() -> float:
            cmd = [str(exe), str(obs_file), str(args.calls), str(args.blocks)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            return float(out.stdout.split()[0]) * 1e-9

        return run

    def numpy_timer(policy):
        rows = list(obs)

        def run() -> float:
            block_s, next_row = [], 0
            for block in range(args.blocks + 1):  # block 0: warm-up
                start = time.perf_counter()
                for _ in range(args.calls):
                    policy(rows[next_row])
                    next_row = (next_row + 1) % len(rows)
                if block:
                    block_s.append((time.perf_counter() - start) / args.calls)
            return statistics.median(block_s)

        return run

    timers = {name: c_timer(exe) for name, exe in c_exes.items()}
    timers |= {f"numpy_{name}": numpy_timer(policy) for name, policy in policies.items()}
    names = list(timers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(timers[name]())
    latency_us = {name: round(statistics.median(s) * 1e6, 3) for name, s in samples.items()}
    spread_us = {
        name: [round(min(s) * 1e6, 3), round(max(s) * 1e6, 3)] for name, s in samples.items()
    }
    cc_version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    result = {
        "benchmark": "c_policy",
        "runs": {name: str(path) for name, path in actors.items()},
        "latency_us_median": latency_us,
        "latency_us_min_max": spread_us,
        "footprint": footprint,
        "max_abs_diff_c_vs_numpy": max_diff,
        "repeats": args.repeats,
        "blocks_per_repeat": args.blocks,
        "calls_per_block": args.calls,
        "observations": "1000 N(0, 1) float32 vectors, cycled",
        "cc": cc_version.splitlines()[0] if cc_version else cc,
        "cflags": args.cflags,
        "numpy": np.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "cpu_affinity": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        **machine_facts(),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(work)
    if args.markdown:
        write_section(args.markdown, "c-export", markdown(result))


def markdown(result: dict) -> str:
    lat, fp = result["latency_us_median"], result["footprint"]
    sparse_meta = fp["c_sparse"]["metadata"]
    rows = [
        ("C, sparse actor (`--format c`)", "c_sparse", "c"),
        ('C, sparse actor, CSR layers (`c_policy(..., layout="csr")`)', "c_sparse_csr_layout", "c"),
        ("C, sparse actor, every layer dense (`--format c --dense`)", "c_sparse_dense_layout", "c"),
        ("C, dense actor (`--format c`)", "c_dense", "c"),
        ("NumPy `load_policy`, sparse actor (`auto`)", "numpy_sparse", "numpy"),
        ("NumPy `load_policy`, dense actor (`auto` = BLAS)", "numpy_dense", "numpy"),
    ]
    lines = [
        f"Measured by `benchmarks/c_policy.py` on `{result['cpu']}` ({result['cores']} cores), "
        f"pinned to core {result['cpu_affinity']}; `{result['cc']}` with `{result['cflags']}`, "
        f"NumPy {result['numpy']} with {result['blas_threads']} BLAS thread. Batch 1; per "
        f"contender the median of {result['repeats']} interleaved samples, each the median of "
        f"{result['blocks_per_repeat']} blocks of {result['calls_per_block']} calls.",
        "",
        "| actor | layers | constant data (B) | working memory (B) | batch-1 latency (µs) |",
        "|---|---|---:|---:|---:|",
    ]
    for label, key, kind in rows:
        entry = fp[key]
        if kind == "c":
            layers = "/".join(entry["layouts"])
            lines.append(
                f"| {label} | {layers} | {entry['const_bytes']:,} | {entry['work_bytes']:,} "
                f"| {lat[key]:.2f} |"
            )
        else:
            lines.append(
                f"| {label} | {'/'.join(entry['execution'])} | {entry['tensor_bytes']:,} "
                f"(tensors) | — | {lat[key]:.2f} |"
            )
    lines += [
        "",
        f"Actors: {sparse_meta['algo']} {sparse_meta['method']} {sparse_meta['env']} "
        f"({fp['numpy_sparse']['num_active']:,} of {fp['numpy_sparse']['num_weights']:,} "
        f"weights active) and {fp['c_dense']['metadata']['method']} "
        f"({fp['numpy_dense']['num_active']:,}). Largest |C − NumPy| action difference on the "
        "benchmark's observations: "
        + ", ".join(f"{k} {v:.1e}" for k, v in result["max_abs_diff_c_vs_numpy"].items())
        + ".",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
