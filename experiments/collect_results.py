"""Copy the raw results of a sweep's completed runs into the repository.

    python experiments/collect_results.py SWEEP_OUT results/td3-1m

For every run directory of SWEEP_OUT whose summary.json says "completed", copies
config.json, summary.json and evaluations.csv (no checkpoints, no TensorBoard events) to
DEST/<run name>/. `rlx2 report DEST` then regenerates every table and figure from the
repository alone. A run already in DEST with different contents is an error (exit status 2),
never replaced.
Standard library only, so it runs from any environment.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

FILES = ("config.json", "summary.json", "evaluations.csv")


class Conflict(Exception):
    """A run already in DEST differs from the run of the same name in SWEEP_OUT."""


def collect(src: Path, dest: Path) -> tuple[list[str], list[str]]:
    copied, kept = [], []
    for run in sorted(p for p in src.iterdir() if (p / "summary.json").is_file()):
        try:
            status = json.loads((run / "summary.json").read_text()).get("status")
        except (OSError, ValueError):
            continue
        if status != "completed" or not all((run / f).is_file() for f in FILES):
            continue
        target = dest / run.name
        if target.exists():
            differ = [f for f in FILES if (target / f).read_bytes() != (run / f).read_bytes()]
            if differ:
                raise Conflict(f"collect: {target} differs from {run} in {', '.join(differ)}")
            kept.append(run.name)
            continue
        tmp = dest / f".{run.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in FILES:
            shutil.copy2(run / f, tmp / f)
        tmp.rename(target)  # whole run or nothing
        copied.append(run.name)
    return copied, kept


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    src, dest = Path(argv[0]), Path(argv[1])
    if not src.is_dir():
        print(f"collect: {src} is not a directory", file=sys.stderr)
        return 2
    try:
        copied, kept = collect(src, dest)
    except Conflict as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"collect: {len(copied)} new, {len(kept)} already there -> {dest}")
    for name in copied:
        print(f"  + {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
