"""The Python API (issue 13 §4): rlx2.train -> Run, rlx2.load, predict, the evaluations table,
and `rlx2 train --config FILE` (one mapping of option names, command-line flags win)."""

import csv
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FAST, assert_one_line_error, run_cli

import rlx2
from rlx2.api import Evaluations, Run, train_config
from rlx2.cli import main
from rlx2.config import TrainConfig
from rlx2.errors import ConfigError, RunDirError
from rlx2.parsing import parse_args
from rlx2.train.envs import make_env
from rlx2.train.evaluate import evaluate, evaluation_seed

# FAST as keywords: tiny networks and batches, short warm-up, one evaluation episode.
SMALL = dict(
    learning_starts=256, batch_size=32, hidden=16, eval_episodes=1, quiet=True, total_steps=400
)
CASES = {
    "td3-dense": dict(algo="td3"),
    # A sparse SAC on the sparse backend: predict must read the compact networks too.
    "sac-set": dict(algo="sac", method="set", actor_sparsity=0.5, critic_sparsity=0.5),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One short Pendulum run per case, trained through rlx2.train."""
    root = tmp_path_factory.mktemp("api")
    return {
        name: rlx2.train(env="Pendulum-v1", eval_every=200, run_dir=root / name, **SMALL, **options)
        for name, options in CASES.items()
    }


def observations(n: int, seed: int = 0) -> np.ndarray:
    """[n, 3] Pendulum observations: (cos θ, sin θ, θ̇) at random angles and speeds."""
    rng = np.random.default_rng(seed)
    theta, speed = rng.uniform(-np.pi, np.pi, n), rng.uniform(-8, 8, n)
    return np.stack([np.cos(theta), np.sin(theta), speed], axis=1).astype(np.float32)


# ----- train -> Run ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_train_returns_the_completed_run(case, runs):
    run = runs[case]
    assert isinstance(run, Run) and run.status == "completed"
    assert run.config.env == "Pendulum-v1" and run.config.algo == CASES[case]["algo"]
    assert run.config.run.total_steps == 400 and run.config.agent.hidden == 16
    saved = json.loads((run.run_dir / "config.json").read_text())
    assert run.record == saved and run.summary == json.loads(
        (run.run_dir / "summary.json").read_text()
    )
    assert run.final_return == pytest.approx(run.evaluations["return_mean"].mean())
    assert (run.obs_dim, run.act_dim) == (3, 1)
    command = run.record["command"]  # the call as rlx2 train flags, not pytest's argv
    assert command[:3] == ["rlx2.train", "--env", "Pendulum-v1"] and "--total-steps" in command
    assert parse_args(TrainConfig, command[1:]) == dataclasses.replace(
        run.config, run=dataclasses.replace(run.config.run, backend="auto")
    )
    assert "completed" in repr(run) and "2 evaluations" in repr(run)


@pytest.mark.parametrize("case", CASES)
def test_evaluations_table_is_evaluations_csv(case, runs, tmp_path):
    run = runs[case]
    with open(run.run_dir / "evaluations.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        lines = list(reader)
    table = run.evaluations
    assert table.columns == tuple(header) and len(table) == len(lines) == 2
    for j, name in enumerate(header):
        expected = [float(line[j]) if line[j] != "" else math.nan for line in lines]
        np.testing.assert_array_equal(table.column(name), np.array(expected))
    assert table["step"].dtype == np.int64 and table["step"].tolist() == [200, 400]
    assert table["episodes"].dtype == np.int64 and table["return_mean"].dtype == np.float64
    rows = table.rows()
    assert [list(row) for row in rows] == [header] * 2
    assert rows[1]["step"] == 400 and rows[1]["return_mean"] == float(lines[1][1])
    assert repr(list(table)) == repr(rows)  # (NaN != NaN, so compared as text)
    out = table.to_csv(tmp_path / "copy.csv")
    assert out.read_bytes() == (run.run_dir / "evaluations.csv").read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_predict_is_the_agents_deterministic_action(case, runs):
    """predict == act_deterministic row by row (exactly for one observation, to float32
    rounding for a batch, whose matrix product sums in another order)."""
    run = runs[case]
    obs = observations(64)
    batch = run.predict(obs)
    reference = np.stack([run.agent.act_deterministic(o) for o in obs])
    assert batch.shape == (64, 1) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, reference, rtol=0, atol=1e-6)
    for o, expected in zip(obs[:8], reference[:8], strict=True):
        single = run.predict(o)
        assert single.shape == (1,)
        np.testing.assert_array_equal(single, expected)
    assert run.predict(obs.tolist()).shape == (64, 1)  # any array-like
    assert np.all(np.abs(batch) <= 2.0)  # Pendulum's torque bound


@pytest.mark.parametrize("case", CASES)
def test_loaded_run_predicts_like_the_exported_numpy_policy(case, runs, tmp_path):
    """rlx2.load reads the agent back from disk; the NumPy policy of `rlx2 export` (an
    independent implementation of the same actor) computes the same actions."""
    from rlx2.deploy import load_policy
    from rlx2.deploy.export import export_policy

    loaded = rlx2.load(runs[case].run_dir)
    assert loaded.agent is not runs[case].agent
    export_policy(loaded.run_dir, tmp_path / "policy.safetensors")
    policy = load_policy(tmp_path / "policy.safetensors")
    obs = observations(128, seed=1)
    np.testing.assert_allclose(loaded.predict(obs), policy(obs), rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_predict_reproduces_the_runs_last_evaluation(case, runs):
    run = runs[case]
    env = make_env("Pendulum-v1")
    try:
        returns = evaluate(run.predict, env, 1, evaluation_seed(run.config.run.seed))
    finally:
        env.close()
    assert returns.mean() == run.evaluations["return_mean"][-1]


def test_td3_stochastic_predict_adds_the_exploration_noise(runs):
    """deterministic=False is TD3's behaviour policy: π(s) + N(0, (0.1 × half-range)²), clipped."""
    run = runs["td3-dense"]
    obs = np.repeat(observations(1), 4000, axis=0)
    mean = run.predict(obs[0])
    torch.manual_seed(5)
    noisy = run.predict(obs, deterministic=False)
    torch.manual_seed(5)
    again = np.stack([run.agent.act(o)[0] for o in obs])
    np.testing.assert_array_equal(noisy, again)  # the agent's own acting code, same draws
    assert noisy.shape == (4000, 1) and np.all(np.abs(noisy) <= 2.0)
    inside = np.abs(noisy[:, 0]) < 2.0  # unclipped draws: a Gaussian around π(s)
    deviation = noisy[inside, 0] - mean[0]
    expected_std = run.config.td3.exploration_noise * 2.0  # half-range of [-2, 2]
    assert abs(deviation.std() - expected_std) < 0.1 * expected_std
    assert abs(deviation.mean()) < 4 * expected_std / math.sqrt(inside.sum()) + 0.02


def test_sac_stochastic_predict_samples_the_squashed_gaussian(runs):
    run = runs["sac-set"]
    obs = observations(16, seed=2)
    torch.manual_seed(9)
    sampled = run.predict(obs, deterministic=False)
    # Reference: tanh(μ + σ·ε) scaled, with the same draws, one observation after another.
    torch.manual_seed(9)
    actor = run.agent.actor
    expected = []
    with torch.no_grad():
        for o in obs:
            mu, log_std = actor.distribution(torch.as_tensor(o[None]))
            eps = torch.randn_like(mu)
            expected.append(actor.scaling(torch.tanh(mu + log_std.exp() * eps))[0].numpy())
    np.testing.assert_allclose(sampled, np.stack(expected), rtol=0, atol=1e-6)
    assert not np.allclose(sampled, run.predict(obs))
    assert np.all(np.abs(sampled) <= 2.0)


@pytest.mark.parametrize("shape", [(2,), (5, 4), (2, 3, 3), ()])
def test_predict_rejects_other_shapes(shape, runs):
    with pytest.raises(ValueError, match=r"obs must have shape \[3\] or \[batch, 3\]"):
        runs["td3-dense"].predict(np.zeros(shape))


# ----- options: one mapping, the same configs as the CLI --------------------------------------
def test_keywords_make_the_config_the_flags_make():
    keywords = train_config(
        "Pendulum-v1",
        algo="sac",
        method="rlx2",
        actor_sparsity=0.9,
        critic_sparsity=np.float64(0.8),  # NumPy scalars are plain values
        total_steps=2e4,  # a float that is a whole number, as YAML writes 2e4
        learning_starts=1000,
        seed=np.int64(3),
        reset_moments=False,
        backend="masked",
        run_dir=Path("runs/x"),
        quiet=True,
    )
    flags = parse_args(
        TrainConfig,
        "--env Pendulum-v1 --algo sac --method rlx2 --actor-sparsity 0.9 --critic-sparsity 0.8 "
        "--total-steps 20000 --learning-starts 1000 --seed 3 --no-reset-moments --backend masked --run-dir runs/x "
        "--quiet".split(),
    )
    assert keywords == flags
    assert (
        train_config(
            **{"env": "Pendulum-v1", "total-steps": 500, "learning-starts": 256}
        ).run.total_steps
        == 500
    )
    assert train_config().env == TrainConfig().env  # no env: the default task


@pytest.mark.parametrize(
    "options,needle",
    [
        (dict(total_step=5), "unknown option 'total_step'; did you mean 'total_steps'?"),
        (dict(total_steps=-5), "--total-steps must be positive, got -5"),
        (dict(total_steps="many"), "--total-steps"),
        (dict(total_steps=1000.5), "--total-steps"),
        (dict(algo="ppo"), "invalid choice 'ppo' for argument '--algo'"),
        (dict(method="rlx2"), "--method rlx2 needs --actor-sparsity and --critic-sparsity"),
        (dict(actor_sparsity=[0.1]), "actor-sparsity must be a single value"),
        (dict(quiet="yes"), "quiet must be true or false"),
        (dict(resume="runs/x"), "continue a stopped run with rlx2.resume(run_dir)"),
        (dict(learning_starts=8), "--learning-starts (8) must be >= --batch-size (256)"),
        (dict(env="NoSuchTask-v9"), "NoSuchTask-v9"),
    ],
)
def test_bad_options_raise_one_config_error_and_write_nothing(options, needle, tmp_path):
    options = {"env": "Pendulum-v1", "run_dir": tmp_path / "run", **options}
    with pytest.raises(ConfigError) as excinfo:
        rlx2.train(**options)
    assert needle in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_directory_holding_a_run(runs):
    with pytest.raises(RunDirError, match="already holds a run"):
        rlx2.train(env="Pendulum-v1", run_dir=runs["td3-dense"].run_dir, **SMALL)


# ----- load: any run directory, clear errors -------------------------------------------------
def test_load_of_an_unfinished_run_reads_it_but_has_no_agent(runs, tmp_path):
    source = runs["td3-dense"].run_dir
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    for name in ("config.json", "evaluations.csv"):
        (run_dir / name).write_bytes((source / name).read_bytes())
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted", "step": 200}))
    run = rlx2.load(run_dir)
    assert run.status == "interrupted" and run.final_return is None and len(run.evaluations) == 2
    with pytest.raises(RunDirError, match="the run is interrupted and has no final checkpoint"):
        run.predict(observations(1)[0])
    (run_dir / "summary.json").unlink()
    (run_dir / "evaluations.csv").unlink()
    started = rlx2.load(run_dir)  # just started: config.json only
    assert started.status == "running" and started.summary == {} and len(started.evaluations) == 0
    assert started.evaluations.columns[:2] == ("step", "return_mean")


@pytest.mark.parametrize(
    "name,text,needle",
    [
        ("config.json", "{not json", "unreadable config.json"),
        ("config.json", '{"config": {"no_such_key": 1}}', "unknown config keys: no_such_key"),
        ("summary.json", "{", "summary.json: unreadable"),
        ("evaluations.csv", "step,return_mean\n200,abc\n", "evaluations.csv: unreadable"),
    ],
)
def test_load_names_the_unreadable_file(name, text, needle, runs, tmp_path):
    source = runs["td3-dense"].run_dir
    run_dir = tmp_path / "bad"
    run_dir.mkdir()
    for file in ("config.json", "summary.json", "evaluations.csv"):
        (run_dir / file).write_bytes((source / file).read_bytes())
    (run_dir / name).write_text(text)
    with pytest.raises(RunDirError, match=needle):
        rlx2.load(run_dir)


def test_load_of_a_directory_without_a_run(tmp_path):
    with pytest.raises(RunDirError, match="no rlx2 run there"):
        rlx2.load(tmp_path)


# ----- the evaluations table ------------------------------------------------------------------
def test_table_from_hand_made_rows():
    rows = [
        {"step": 100.0, "return_mean": -3.5, "episodes": 2.0},
        {"step": 200.0, "return_mean": math.nan, "episodes": 2.0},
    ]
    table = Evaluations.from_rows(rows)
    assert table.columns == ("step", "return_mean", "episodes") and len(table) == 2
    assert table.rows()[0] == {"step": 100, "return_mean": -3.5, "episodes": 2}
    assert math.isnan(table.rows()[1]["return_mean"])
    with pytest.raises(ValueError):
        table.column("step")[0] = 7  # read-only: the table records the file
    copy = table.as_dict()
    copy["step"][0] = 7  # as_dict hands out copies
    assert table["step"][0] == 100
    with pytest.raises(KeyError, match="no column 'retrun'; columns: step, return_mean"):
        table.column("retrun")
    assert "step" in table and "q_bias" not in table
    empty = Evaluations.from_rows([])
    assert len(empty) == 0 and empty.rows() == [] and "return_mean" in empty.columns


def test_to_csv_never_replaces_a_file_silently(tmp_path):
    table = Evaluations.from_rows([{"step": 1.0, "return_mean": 2.0}])
    path = tmp_path / "e.csv"
    path.write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        table.to_csv(path)
    assert path.read_text() == "keep"
    table.to_csv(path, overwrite=True)
    assert path.read_text() == "step,return_mean\n1,2.0\n"


def test_table_makes_a_pandas_dataframe(runs):
    pandas = pytest.importorskip("pandas")
    table = runs["td3-dense"].evaluations
    frame = pandas.DataFrame(table.as_dict())
    assert list(frame.columns) == list(table.columns) and len(frame) == len(table)
    assert frame["step"].tolist() == table["step"].tolist()


# ----- import cost and the name rlx2.train ----------------------------------------------------
def test_api_names_import_no_torch_and_train_stays_callable():
    """rlx2.train is the subpackage rlx2/train made callable: Python rebinds the name to the
    package once a module of it is imported, so a function there would be replaced."""
    code = (
        "import sys, rlx2\n"
        "assert callable(rlx2.train) and rlx2.load and rlx2.Run and rlx2.Evaluations\n"
        "assert 'torch' not in sys.modules, 'the API names pulled in torch'\n"
        "import rlx2.train.loop\n"
        "assert callable(rlx2.train) and rlx2.train is sys.modules['rlx2.train']\n"
        "from rlx2 import train, load\n"
        "assert train is rlx2.train and load is rlx2.load\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_calling_the_package_is_calling_the_api(monkeypatch):
    calls = []
    monkeypatch.setattr("rlx2.api.train", lambda env=None, **kw: calls.append((env, kw)) or "run")
    assert rlx2.train("Pendulum-v1", seed=3) == "run"
    assert calls == [("Pendulum-v1", {"seed": 3})]


# ----- rlx2 train --config FILE ---------------------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    """`rlx2 train` parses its arguments but trains nothing: the config it would run."""
    configs = []

    def fake_train(config):
        configs.append(config)
        return {
            "final_return": 0.0,
            "steps_per_second": 1.0,
            "wall_time_s": 1.0,
            "run_dir": "runs/x",
        }

    monkeypatch.setattr("rlx2.train.loop.train", fake_train)
    return configs


FILE = """\
env: Pendulum-v1
total-steps: 600
learning-starts: 256
eval_every: 200        # snake case too
hidden: 16
quiet: false
seed: 3
dynamic-buffer: on     # YAML 1.2: the string "on", not a boolean
"""


def test_config_file_gives_the_options_and_flags_win(tmp_path, captured, capsys):
    path = tmp_path / "train.yaml"
    path.write_text(FILE)
    main(["train", "--config", str(path)])
    main(["train", "--total-steps", "400", f"--config={path}", "--quiet", "--seed", "0"])
    main(["train", "--config", str(path), "--no-quiet", "--quiet"])
    from_file, overridden, last_flag = captured
    assert from_file == parse_args(
        TrainConfig,
        "--env Pendulum-v1 --total-steps 600 --learning-starts 256 --eval-every 200 --hidden 16 "
        "--no-quiet --seed 3 "
        "--dynamic-buffer on".split(),
    )
    assert overridden.run.total_steps == 400 and overridden.run.quiet and overridden.run.seed == 0
    assert overridden.run.eval_every == 200 and overridden.agent.hidden == 16  # the file's
    assert last_flag.run.quiet


def test_config_file_and_quiet_flag_override_a_true_boolean(tmp_path, captured, capsys):
    path = tmp_path / "train.yaml"
    path.write_text("env: Pendulum-v1\nquiet: true\nreset-moments: false\n")
    main(["train", "--config", str(path), "--no-quiet", "--reset-moments"])
    assert not captured[0].run.quiet and captured[0].sparse.reset_moments


def test_toml_config_file(tmp_path, captured, capsys):
    path = tmp_path / "train.toml"
    path.write_text('env = "Pendulum-v1"\ntotal_steps = 900\nlearning_starts = 256\nquiet = true\n')
    main(["train", "--config", str(path)])
    assert captured[0].run.total_steps == 900 and captured[0].run.quiet


def test_config_file_trains_end_to_end(tmp_path, capsys):
    path = tmp_path / "train.yaml"
    path.write_text(
        "env: Pendulum-v1\nalgo: sac\ntotal-steps: 600\neval-every: 300\n"
        f"run-dir: {tmp_path / 'from-file'}\n"
    )
    main(["train", "--config", str(path), "--total-steps", "300", *FAST])
    run = rlx2.load(tmp_path / "from-file")
    assert run.status == "completed" and run.config.algo == "sac"
    assert run.config.run.total_steps == 300 and run.evaluations["step"].tolist() == [300]


@pytest.mark.parametrize(
    "text,extra,needle",
    [
        (None, [], "--config {path}: No such file or directory"),
        ("env: [Pendulum\n", [], "invalid YAML"),
        ("totl-steps: 5\n", [], "unknown option 'totl-steps'; did you mean 'total-steps'?"),
        ("fixed:\n  env: Pendulum-v1\n", [], "'fixed' is a sweep-file section"),
        ("seed: [0, 1]\n", [], "seed must be a single value"),
        ("- env\n", [], "must be a mapping of rlx2 train options"),
        ("resume: runs/x\n", [], "'resume' cannot be set in a --config file"),
        ("total-steps: -5\n", [], "--total-steps must be positive"),
        ("quiet: 1\n", [], "quiet must be true or false"),
        ("seed: 0\nseed: 1\n", [], "duplicate key 'seed'"),
        ("env: Pendulum-v1\n", ["--config"], "--config given twice"),
        ("env: Pendulum-v1\n", ["--resume", "runs/x"], "it takes no --config"),
    ],
)
def test_bad_config_file_exits_2_with_one_line(text, extra, needle, tmp_path, captured, capsys):
    path = tmp_path / "train.yaml"
    if text is not None:
        path.write_text(text)
    if extra == ["--config"]:
        extra = ["--config", str(path)]
    code, err = run_cli(["train", "--config", str(path), *extra], capsys)
    assert_one_line_error(code, err, needle.format(path=path))
    assert captured == []


def test_config_without_a_file(capsys):
    code, err = run_cli(["train", "--config"], capsys)
    assert_one_line_error(code, err, "--config needs a FILE")


def test_train_help_mentions_config(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--total-steps" in out and "--config FILE" in out and "flags given on the command" in out


def test_resume_continues_a_stopped_run(runs, tmp_path):
    """A run stopped before its first checkpoint starts again from step 0 in its directory
    (rlx2 train --resume); with the same seed it repeats the original's evaluations."""
    source = runs["td3-dense"].run_dir
    run_dir = tmp_path / "stopped"
    run_dir.mkdir()
    (run_dir / "config.json").write_bytes((source / "config.json").read_bytes())
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted", "step": 100}))
    resumed = rlx2.resume(run_dir, quiet=True)
    assert isinstance(resumed, Run) and resumed.status == "completed"
    np.testing.assert_array_equal(
        resumed.evaluations["return_mean"], runs["td3-dense"].evaluations["return_mean"]
    )
    with pytest.raises(RunDirError, match="already completed"):
        rlx2.resume(run_dir)
