"""Helpers shared by the benchmarks: medians of repeats and a markdown section writer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def median_time(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    """Median over ``repeats`` of the mean wall time (s) of ``inner`` calls of ``fn``."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between <!-- name:start --> and <!-- name:end -->."""
    from rlx2.bench import write_section as write

    write(path, name, body)


def host_facts() -> dict:
    """What the figures belong to and what else ran: the CPU as ``lscpu`` names it, this
    process's niceness and cores, and ``/proc/loadavg`` (1, 5, 15-minute load averages,
    runnable/total tasks) at the time of the call."""
    import os
    import subprocess

    facts: dict = {"lscpu": {}}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    wanted = ("Model name", "Vendor ID", "CPU family", "Model", "CPU(s)", "Hypervisor vendor")
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in wanted:
            facts["lscpu"][key.strip()] = value.strip()
    try:
        facts["loadavg"] = Path("/proc/loadavg").read_text().strip()
    except OSError:
        facts["loadavg"] = None
    facts["nice"] = os.nice(0)
    facts["affinity"] = sorted(os.sched_getaffinity(0))
    return facts


def write_new_json(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON to a new file, atomically (a temporary file, then a rename);
    an existing file is never replaced (the caller checks first, for a one-line error)."""
    import json
    import os

    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    if path.exists():
        tmp.unlink()
        raise FileExistsError(f"{path} exists")
    os.replace(tmp, path)


def parse_cases(parser, cases: list[str], output: Path | None) -> list[tuple[str, str]]:
    """(algo, env) of each ``ALGO:ENV`` of ``--cases`` (a parser error otherwise); an
    existing ``--output`` is refused before anything runs."""
    for case in cases:
        if case.count(":") != 1 or case.split(":")[0] not in ("td3", "sac"):
            parser.error(f"--cases: {case!r} is not ALGO:ENV with ALGO td3 or sac")
    if output is not None and output.exists():
        parser.error(f"--output {output} exists; choose another")
    return [(case.split(":")[0], case.split(":")[1]) for case in cases]


def run_cases(
    benchmark: str,
    cases: list[tuple[str, str]],
    measure: Callable[[str, str], dict],
    output: Path | None,
) -> list[dict]:
    """Measure every case, printing each result as one JSON line; with ``output``, also write
    them all with the command and the host's facts before and after (a new file)."""
    import json
    import sys

    host_before = host_facts()
    results = []
    for algo, env in cases:
        result = measure(algo, env)
        print(json.dumps(result), flush=True)
        results.append(result)
    if output is not None:
        write_new_json(
            output,
            {
                "benchmark": benchmark,
                "command": " ".join(["python", *sys.argv]),
                "host_before": host_before,
                "host_after": host_facts(),
                "results": results,
            },
        )
    return results
