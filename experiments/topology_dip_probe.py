"""Replay a committed run up to its K-th actor topology update and look inside each update.

    python experiments/topology_dip_probe.py run RUN_DIR --updates K --out FILE.json
    python experiments/topology_dip_probe.py table FILE.json [FILE.json ...]

`run` trains RUN_DIR's run (a committed run: its config.json) again from step 0, with the same
options, in a temporary directory, until its K-th actor topology update. At each actor topology
update it records the deterministic policy's evaluation return right before the update (after
the gradient step, as the loop would have evaluated it) and right after it (what the run's
evaluations.csv records at that step, when the update falls on an evaluation step), and, per
actor layer, what was dropped: the number of weights that left the network (a dropped weight
that is grown again at once keeps its value and is not counted), their share of the layer's
summed |w|, and how many of them had been grown at the previous update. It prints one JSON line
per update and writes them all to FILE.json. `table` prints the markdown table of
docs/results.md from such files (one column pair per run); experiments/update_results_doc.py
writes it there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rlx2.errors import ConfigError
from rlx2.sparse.topology import TopologyUpdater
from rlx2.train.envs import check_env, make_env
from rlx2.train.evaluate import evaluate, evaluation_seed
from rlx2.train.loop import Trainer, machine_facts, source_revision
from rlx2.train.records import load_train_config
from rlx2.train.rundir import atomic_write_json
from rlx2.train.signals import StopSignals


class _Done(Exception):
    """Raised after the last update of interest: ends the replay."""


def probe(run_dir: Path, updates: int) -> list[dict[str, Any]]:
    record, config = load_train_config(run_dir)
    if record.effective.get("topology") in (None, "static"):
        raise ConfigError(f"{run_dir}: method {config.sparse.method} evolves no topology")
    if updates < 1:
        raise ConfigError(f"--updates {updates}: must be at least 1")
    scratch = tempfile.mkdtemp(prefix="dip-probe-")
    run = dataclasses.replace(
        config.run, run_dir=scratch, quiet=True, checkpoint_every=0, checkpoint_minutes=0.0
    )
    config = dataclasses.replace(config, run=run)
    trainer = Trainer(config, check_env(config.env), Path(scratch))
    agent = trainer.agent
    actor_updater = agent.actor_updater
    eval_env = make_env(config.env)
    records: list[dict[str, Any]] = []
    grown_last: list[torch.Tensor] | None = None
    original = TopologyUpdater._evolve

    def score() -> float:
        returns = evaluate(
            agent.act_deterministic,
            eval_env,
            config.run.eval_episodes,
            evaluation_seed(config.run.seed),
        )
        return float(returns.mean())

    def evolve(self: TopologyUpdater, optimizer: torch.optim.Optimizer, t: int) -> None:
        nonlocal grown_last
        if self is not actor_updater:
            original(self, optimizer, t)
            return
        before_masks = [m.detach().cpu().clone() for m in self.masks.masks]
        weights, _ = self.storage.dense_views(with_grads=False)
        before_weights = [w.detach().cpu().clone() for w in weights]
        before = score()
        original(self, optimizer, t)
        after = score()
        after_masks = [m.detach().cpu().clone() for m in self.masks.masks]
        layers = []
        for i, (w, old, new) in enumerate(
            zip(before_weights, before_masks, after_masks, strict=True)
        ):
            dropped = old & ~new
            magnitude = w.abs()
            layers.append(
                {
                    "dropped": int(dropped.sum()),
                    "dropped_share_of_abs_w": float(
                        magnitude[dropped].sum() / magnitude[old].sum()
                    ),
                    "dropped_grown_at_previous_update": (
                        int((dropped & grown_last[i]).sum()) if grown_last is not None else None
                    ),
                }
            )
        grown_last = [n & ~o for o, n in zip(before_masks, after_masks, strict=True)]
        record = {
            "step": trainer.step,
            "actor_update": t,
            "drop_fraction": self.schedule.fraction(t),
            "return_before": before,
            "return_after": after,
            "layers": layers,
        }
        records.append(record)
        print(json.dumps(record), flush=True)
        if len(records) >= updates:
            raise _Done

    TopologyUpdater._evolve = evolve  # type: ignore[method-assign]
    try:
        with StopSignals() as stop:
            trainer.run(None, stop)
    except _Done:
        pass
    finally:
        TopologyUpdater._evolve = original  # type: ignore[method-assign]
        eval_env.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return records


def table(outputs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per update, each run's return before -> after and the share of |w|
    dropped from its two hidden layers' inputs (layers 1 and 2); a last row of medians."""
    header = ["actor update at step", "drop fraction"]
    # label = the run's name less what all runs' names share (up to an underscore)
    prefix = os.path.commonprefix([output["run"] for output in outputs]) if len(outputs) > 1 else ""
    prefix = prefix[: prefix.rfind("_") + 1]
    for output in outputs:
        label = output["run"][len(prefix) :]
        header += [f"{label}: return before → after", f"{label}: |w| dropped, layer 1 / 2"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    steps = [r["step"] for r in outputs[0]["records"]]
    for output in outputs[1:]:
        if [r["step"] for r in output["records"]] != steps:
            raise ConfigError(
                f"{output['run']}: its updates fall at other steps than {outputs[0]['run']}'s"
            )
    for i, step in enumerate(steps):
        row = [f"{step:,}".replace(",", " "), f"{outputs[0]['records'][i]['drop_fraction']:.3f}"]
        for output in outputs:
            r = output["records"][i]
            ratio = r["return_after"] / r["return_before"]
            shares = " / ".join(
                f"{100 * layer['dropped_share_of_abs_w']:.1f} %" for layer in r["layers"][:2]
            )
            row += [f"{r['return_before']:.0f} → {r['return_after']:.0f} ({ratio:.2f})", shares]
        lines.append("| " + " | ".join(row) + " |")
    medians = ["median", ""]
    for output in outputs:
        records = output["records"]
        ratio = statistics.median(r["return_after"] / r["return_before"] for r in records)
        shares = " / ".join(
            f"{100 * statistics.median(r['layers'][k]['dropped_share_of_abs_w'] for r in records):.1f} %"
            for k in (0, 1)
        )
        medians += [f"({ratio:.2f})", shares]
    lines.append("| " + " | ".join(medians) + " |")
    return lines


def _error(message: str) -> int:
    print(f"topology_dip_probe: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    usage = __doc__.strip().splitlines()
    args = list(argv)
    if args[:1] == ["table"]:
        if len(args) < 2:
            return _error(f"usage: {usage[3].strip()}")
        try:
            outputs = [json.loads(Path(name).read_text()) for name in args[1:]]
            lines = table(outputs)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            return _error(f"cannot tabulate {' '.join(args[1:])}: {exc}")
        print("\n".join(lines))
        return 0
    if args[:1] != ["run"] or len(args) != 6 or "--updates" not in args or "--out" not in args:
        return _error(f"usage: {usage[2].strip()}")
    options = dict(zip(args[2::2], args[3::2], strict=True))
    run_dir, out = Path(args[1]), Path(options.get("--out", ""))
    if not options.get("--updates", "").lstrip("-").isdigit():
        return _error(f"--updates needs an integer, not {options.get('--updates')!r}")
    if out.exists():
        return _error(f"--out {out}: exists; results are never overwritten")
    revision = source_revision()  # before the run: the checkout may move while it trains
    try:  # load_train_config names a missing or unreadable config.json
        records = probe(run_dir, int(options["--updates"]))
    except ConfigError as exc:
        return _error(str(exc))
    output = {
        "run": run_dir.name,
        "source": str(run_dir),
        "probe": {"machine": machine_facts(), "revision": revision},
        "records": records,
    }
    atomic_write_json(out, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
