"""Start or restart a campaign's sweep from a worktree pinned at one commit, with its own
environment, so that code changes in the checkout never reach the running jobs.

    python3 experiments/campaign.py SWEEP_FILE RESULTS_DIR --commit COMMIT
        [--workdir ../campaign] [--workers 2] [--dry-run]

1. the worktree WORKDIR/worktree-COMMIT, checked out at COMMIT (made again if it was lost);
2. its environment, WORKDIR/worktree-COMMIT/.venv: torch==2.13.0 first (the CPU wheel), then
   the package (made once);
3. the sweep's output, WORKDIR/<name of RESULTS_DIR>: each committed run of RESULTS_DIR that it
   lacks is copied in, so the sweep skips it as completed (a run already there is left alone:
   it may hold checkpoints of a run still going);
4. `rlx2 sweep SWEEP_FILE --out OUTPUT --workers N` in the background, detached from this
   shell (its own session, log in WORKDIR/<name>.log). A sweep already running on that output
   holds its lock and this one exits at once, saying so in the log.

Every step is printed; --dry-run prints them and changes nothing. Collect finished runs with
experiments/collect_results.py. Bad input (no sweep file or results directory, an unknown
commit) is one line on stderr and exit status 2. Standard library only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"


class Refused(Exception):
    """Bad input: reported in one line, exit status 2."""


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if done.returncode:
        raise Refused(f"campaign: git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def plan(sweep: Path, results: Path, commit: str, workdir: Path, workers: int) -> list[list[str]]:
    """The commands that bring the campaign to running, in order (none for what is in place)."""
    if not sweep.is_file():
        raise Refused(f"campaign: no sweep file {sweep}")
    if not results.is_dir():
        raise Refused(f"campaign: no results directory {results}")
    full = _git("rev-parse", "--verify", f"{commit}^{{commit}}")
    tree = workdir / f"worktree-{full[:7]}"
    python = tree / ".venv" / "bin" / "python"
    out = workdir / results.resolve().name
    steps: list[list[str]] = []
    if not (tree / ".git").exists():
        steps += [["git", "-C", str(ROOT), "worktree", "prune"]]  # forget a lost one
        steps += [["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), full]]
    if not (tree / ".venv" / "bin" / "rlx2").exists():
        steps += [
            [sys.executable, "-m", "venv", str(tree / ".venv")],
            [str(python), "-m", "pip", "install", "-q", TORCH],
            [str(python), "-m", "pip", "install", "-q", "-e", str(tree)],
        ]
    steps += [["mkdir", "-p", str(out)]]
    missing = [
        str(run)
        for run in sorted(results.iterdir())
        if (run / "summary.json").is_file() and not (out / run.name).exists()
    ]
    if missing:
        steps += [["cp", "-r", *missing, f"{out}/"]]
    rlx2 = str(tree / ".venv" / "bin" / "rlx2")
    steps += [[rlx2, "sweep", str(sweep.resolve()), "--out", str(out), "--workers", str(workers)]]
    return steps


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="campaign.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--workdir", type=Path, default=ROOT.parent / "campaign")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.workers < 1:
            raise Refused(f"campaign: --workers must be at least 1, not {args.workers}")
        steps = plan(args.sweep, args.results, args.commit, args.workdir.resolve(), args.workers)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    *setup, sweep = steps
    for step in setup:
        print("+", " ".join(step), flush=True)
        if not args.dry_run:
            subprocess.run(step, check=True)
    log = Path(sweep[sweep.index("--out") + 1]).with_suffix(".log")
    print("+", " ".join(sweep), f"> {log} 2>&1 &", flush=True)
    if args.dry_run:
        return 0
    with open(log, "a") as handle:  # the sweep outlives this script and its shell
        process = subprocess.Popen(
            sweep, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    print(f"campaign: sweep started, pid {process.pid}, log {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
