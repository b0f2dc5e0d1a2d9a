"""benchmarks/peers.py: every library gets the same hyperparameters; a tiny run end to end."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlx2.config import TrainConfig
from rlx2.parsing import parse_args

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import peers  # noqa: E402


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["dense", "rlx2"])
def test_rlx2_runs_get_the_hyperparameters_sb3_and_sbx_get(algo, method):
    config = parse_args(TrainConfig, peers.rlx2_args(method, algo, "Hopper-v5", 1000, (2000, 7000)))
    for library in ("sb3", "sbx"):
        settings = peers.library_settings(library, algo, 1000)
        assert settings["policy_kwargs"]["net_arch"] == [config.agent.hidden] * 2
        assert settings["batch_size"] == config.agent.batch_size
        assert settings["gamma"] == config.agent.gamma and settings["tau"] == config.agent.tau
        assert settings["learning_rate"] == config.agent.actor_lr == config.agent.critic_lr
        assert settings["learning_starts"] == config.run.learning_starts
        assert settings["train_freq"] == settings["gradient_steps"] == 1
        if algo == "td3":
            assert settings["policy_delay"] == config.td3.policy_delay
            assert settings["target_policy_noise"] == config.td3.policy_noise
            assert settings["target_noise_clip"] == config.td3.noise_clip
            assert peers.EXPLORATION_NOISE == config.td3.exploration_noise
        else:
            assert settings["ent_coef"] == "auto" and config.sac.init_alpha == 1.0
            assert settings["learning_rate"] == config.sac.alpha_lr
    assert config.run.total_steps == 7000 and config.run.eval_every > 7000
    assert config.run.threads == 1
    assert config.sparse.preset == ("paper" if method == "rlx2" else "none")


def test_the_shared_settings_are_copied_per_run():
    first = peers.library_settings("sbx", "td3", 1000)
    first["policy_kwargs"]["use_sde"] = False  # what SBX does to the dict it gets
    assert peers.library_settings("sbx", "td3", 1000)["policy_kwargs"] == {"net_arch": [256, 256]}


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("stable_baselines3", "sbx")),
    reason="needs the peers extra (pip install -e '.[peers]')",
)
def test_peers_runs_every_library_and_reports_ratios(tmp_path):
    output = tmp_path / "peers.json"
    done = subprocess.run(
        [
            *(sys.executable, str(BENCHMARKS / "peers.py"), "--algos", "td3"),
            *("--learning-starts", "300", "--window", "310", "330", "--repeats", "1"),
            *("--output", str(output)),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())
    assert json.loads(done.stdout) == result
    rows = {row["contender"]: row for row in result["results"]}
    assert set(rows) == set(peers.CONTENDERS)
    for row in rows.values():
        assert row["steps_per_second"] > 0
        assert row["vs_sbx"] == pytest.approx(
            row["steps_per_second"] / rows["sbx"]["steps_per_second"], rel=0.05
        )
    assert rows["sb3"]["vs_sb3"] == 1.0 and rows["sbx"]["vs_sbx"] == 1.0
    assert all(run["affinity"] == [0] and run["torch_threads"] == 1 for run in result["runs"])
    assert result["machine_cpu"] and "| TD3 | SBX (JAX) |" in done.stderr
