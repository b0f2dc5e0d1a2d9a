"""Short learning tests with fixed seeds: TD3 and SAC must clearly beat a random policy.

Pendulum-v1: a uniformly random policy scores about −1200 (±250); a learned swing-up
scores above −400. The budgets here learn reliably on 1 thread in about a minute.
"""

import json

import pytest

from rlx2.cli import main

pytestmark = pytest.mark.slow  # learning runs: minutes each

RANDOM_POLICY_RETURN = -1200.0


def train_pendulum(run_dir, *options: str) -> dict:
    """``rlx2 train`` on Pendulum-v1 (seed 1, learning from step 1000, 5-episode evaluations
    every 1000 steps) with ``options`` added; returns summary.json."""
    main(
        ["train", "--env", "Pendulum-v1", "--learning-starts", "1000", "--eval-every", "1000",
         "--eval-episodes", "5", "--seed", "1", "--run-dir", str(run_dir), "--quiet", *options]
    )  # fmt: skip
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_learns_pendulum(algo, tmp_path):
    summary = train_pendulum(
        tmp_path / algo, "--algo", algo, "--total-steps", "8000", "--hidden", "64"
    )
    assert summary["last_return"] > -400, summary
    assert summary["last_return"] > RANDOM_POLICY_RETURN + 600


def test_rigl_at_90_percent_still_learns_pendulum(tmp_path):
    """Spec §3: RigL-TD3 with actor and critic at 90 % sparsity (full 256 width) still learns.

    Judged on the mean of the last three evaluations: at this budget the swing-up is just
    learned and one evaluation alone swings by hundreds (seeds 1-4: that mean between -248
    and -141, the single evaluations in it between -433 and -122)."""
    run_dir = tmp_path / "rigl"
    summary = train_pendulum(
        run_dir, "--algo", "td3", "--method", "rigl", "--actor-sparsity", "0.9",
        "--critic-sparsity", "0.9", "--topology-interval", "1000", "--total-steps", "10000",
    )  # fmt: skip
    assert summary["actor_sparsity"] == pytest.approx(0.9, abs=1e-4)
    # 9000 critic updates; every 1000th strictly before T_end = 9000 evolves: 1000..8000.
    assert summary["topology"]["critic"]["topology_updates"] == 8
    rows = (run_dir / "evaluations.csv").read_text().splitlines()[1:]
    last_three = [float(row.split(",")[1]) for row in rows[-3:]]
    assert sum(last_three) / 3 > -500, last_three
