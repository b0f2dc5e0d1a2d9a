"""The committed campaign files of issue 9: every sweep file under experiments/ plans; the
session and phase files are exact subsets of the campaign they serve (same job names, same
options), so that runs started from either land in one output; each follow-up changes one
setting of the campaign runs it pairs with; every committed run of results/td3-1m,
results/td3-followup and results/td3-followup-hc is a job of its sweep with that job's options;
experiments/collect_results.py copies completed runs only, whole, and never replaces one;
experiments/campaign.py plans a pinned worktree, its environment and the sweep's output."""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from experiment_scripts import load

from rlx2.config import TrainConfig
from rlx2.experiments.sweep import plan_jobs
from rlx2.experiments.sweep_file import load_sweep_file
from rlx2.parsing import parse_args

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"
RESULTS = ROOT / "results"
CAMPAIGN_FILES = (
    "td3_1m.yaml",
    "td3_1m_full.yaml",
    "td3_1m_session.yaml",
    "td3_1m_phase3.yaml",
    "td3_followup.yaml",
    "td3_followup_halfcheetah.yaml",
)
OTHER_SWEEP_FILES = sorted(p for p in EXPERIMENTS.glob("*.yaml") if p.name not in CAMPAIGN_FILES)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Sweep file name -> {job name: the run it starts}, each planned once (into an empty
    directory). A run is its resolved config: the options' order and defaults do not count."""
    out = tmp_path_factory.mktemp("campaign")
    plans = {}
    for name in CAMPAIGN_FILES:
        jobs = plan_jobs(load_sweep_file(EXPERIMENTS / name), out)
        plans[name] = {
            job.name: parse_args(TrainConfig, list(job.args[: job.args.index("--run-dir")]))
            for job in jobs
        }
    return plans


def _marks(path: Path):
    # the paper's sweeps plan hundreds of jobs over every task: the slow tier checks them
    return [pytest.mark.slow] if path.name.startswith("paper_") else []


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.name, marks=_marks(p)) for p in OTHER_SWEEP_FILES]
)
def test_every_other_sweep_file_plans(path, tmp_path):
    jobs = plan_jobs(load_sweep_file(path), tmp_path)
    assert jobs, f"{path.name} plans no job"


def test_session_and_phase_files_are_subsets_of_the_campaign(campaign):
    phases12 = campaign["td3_1m.yaml"]
    full = campaign["td3_1m_full.yaml"]
    session = campaign["td3_1m_session.yaml"]
    phase3 = campaign["td3_1m_phase3.yaml"]
    assert len(phases12) == 40 and len(full) == 100
    # phases 1-2 are in the full campaign under the same names and options
    assert {name: full[name] for name in phases12} == phases12
    # the session list is phases 1-2 (its grid: {} adds Walker2d dense s0, already complete)
    assert {name: phases12[name] for name in session} == session
    # phase 3 is exactly what the full campaign adds to phases 1-2 (its grid: {} adds Walker2d
    # dense s0, as the session's does), under the full campaign's names and options
    assert set(phase3) - {"td3_Walker2d-v5_dense_s0"} == set(full) - set(phases12)
    assert {name: full[name] for name in phase3} == phase3


@pytest.mark.parametrize("name", ["td3_1m_session.yaml", "td3_1m_phase3.yaml"])
def test_session_and_phase3_run_seed_by_seed(campaign, name):
    """Every method and task gets seed s before any gets seed s + 1 (a partial campaign is
    reportable)."""
    seeds = [config.run.seed for config in campaign[name].values()]
    assert seeds == sorted(seeds)


def test_followup_changes_one_setting_of_the_campaign_runs(campaign):
    """Each follow-up run is a campaign run (same task, method, seed, protocol) with one
    setting changed: RLx2's budget scale set to 1, or RigL's and SS's budget set to 3 M."""
    campaign_runs = {
        (c.sparse.method, c.run.seed): c
        for c in campaign["td3_1m.yaml"].values()
        if c.env == "Walker2d-v5"
    }
    followup = list(campaign["td3_followup.yaml"].values())
    assert sorted((c.sparse.method, c.run.seed) for c in followup) == sorted(
        [("rlx2", s) for s in range(5)] + [("rigl", 0), ("ss", 0)]
    )
    for config in followup:
        base = campaign_runs[(config.sparse.method, config.run.seed)]
        if config.sparse.method == "rlx2":
            assert base.value.budget_scale is None  # min(1, 1 M / 3 M)
            expected = replace(base, value=replace(base.value, budget_scale=1.0))
        else:
            expected = replace(base, run=replace(base.run, total_steps=3_000_000))
        assert config == expected


def test_halfcheetah_followup_changes_one_setting_of_rlx2(campaign):
    """Each HalfCheetah follow-up run is the campaign's RLx2 run of its seed with one setting
    changed: the dynamic buffer's cap at the paper's 1 M instead of 1 M × the budget scale, or
    1-step targets instead of 3-step ones."""
    campaign_runs = {
        c.run.seed: c
        for c in campaign["td3_1m_full.yaml"].values()
        if c.env == "HalfCheetah-v5" and c.sparse.method == "rlx2"
    }
    followup = list(campaign["td3_followup_halfcheetah.yaml"].values())
    lifted = [c for c in followup if c.value.buffer_max is not None]
    one_step = [c for c in followup if c.value.nstep is not None]
    assert sorted(c.run.seed for c in lifted) == [0, 1, 2]
    assert sorted(c.run.seed for c in one_step) == [0, 1, 2]
    assert len(followup) == len(lifted) + len(one_step)
    for config in followup:
        base = campaign_runs[config.run.seed]
        assert base.value.buffer_max is None  # 1 M × min(1, 1 M / 3 M)
        assert base.value.nstep is None  # the preset's 3
        changed = {"buffer_max": 1_000_000} if config in lifted else {"nstep": 1}
        assert config == replace(base, value=replace(base.value, **changed))


@pytest.mark.parametrize(
    "results, sweep_file",
    [
        ("td3-1m", "td3_1m_full.yaml"),
        ("td3-followup", "td3_followup.yaml"),
        ("td3-followup-hc", "td3_followup_halfcheetah.yaml"),
    ],
)
def test_committed_runs_are_jobs_of_their_sweep_with_its_options(campaign, results, sweep_file):
    committed_dir = RESULTS / results
    if not committed_dir.is_dir():
        pytest.skip(f"no committed runs in results/{results}")
    # planning into the committed directory compares each run's config.json with its job's
    # options (plan_jobs raises on a difference)
    plan_jobs(load_sweep_file(EXPERIMENTS / sweep_file), committed_dir)
    jobs = set(campaign[sweep_file])
    committed = {p.name for p in committed_dir.iterdir() if (p / "summary.json").is_file()}
    assert committed and committed <= jobs, sorted(committed - jobs)
    for name in committed:
        summary = json.loads((committed_dir / name / "summary.json").read_text())
        assert summary["status"] == "completed", name
        assert sorted(p.name for p in (committed_dir / name).iterdir()) == [
            "config.json",
            "evaluations.csv",
            "summary.json",
        ], name


def test_results_doc_counts_the_committed_phase3_runs(campaign):
    """docs/results.md's "committed so far (N runs)" is the number of phase-3 runs in
    results/td3-1m: the count is written by hand at each commit of runs, and was once wrong."""
    phase3 = set(campaign["td3_1m_phase3.yaml"]) - set(campaign["td3_1m.yaml"])
    committed = {p.name for p in (RESULTS / "td3-1m").iterdir() if p.name in phase3}
    stated = re.findall(
        r"committed so far\s+\((\d+) runs\)", (ROOT / "docs" / "results.md").read_text()
    )
    if len(committed) == len(phase3):
        assert not stated, "phase 3 is complete: docs/results.md still counts its runs"
    else:
        assert stated == [str(len(committed))], f"{len(committed)} phase-3 runs are committed"


# ----- experiments/collect_results.py ---------------------------------------------------------
def _collect_module():
    return load("collect_results")


def _run(root: Path, name: str, status: str, files=("config.json", "evaluations.csv")) -> Path:
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes(b"state")
    (run / "tb").mkdir()
    (run / "summary.json").write_text(json.dumps({"status": status, "final_return": 1.5}))
    for f in files:
        (run / f).write_text(f"{name} {f}\n")
    return run


def test_collect_copies_completed_runs_only_and_only_their_records(tmp_path):
    collect = _collect_module()
    src, dest = tmp_path / "runs", tmp_path / "results"
    _run(src, "done", "completed")
    _run(src, "running", "running")
    _run(src, "stopped", "interrupted")
    _run(src, "no_evals", "completed", files=("config.json",))
    (src / "logs").mkdir()
    assert collect.main([str(src), str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["done"]
    assert sorted(p.name for p in (dest / "done").iterdir()) == [
        "config.json",
        "evaluations.csv",
        "summary.json",
    ]
    for f in ("config.json", "evaluations.csv", "summary.json"):
        assert (dest / "done" / f).read_bytes() == (src / "done" / f).read_bytes()


def test_collect_again_keeps_identical_runs_and_adds_new_ones(tmp_path, capsys):
    collect = _collect_module()
    src, dest = tmp_path / "runs", tmp_path / "results"
    _run(src, "a", "completed")
    assert collect.collect(src, dest) == (["a"], [])
    _run(src, "b", "completed")
    (dest / ".b.tmp").mkdir()  # the leftover of a collect that was killed part-way
    (dest / ".b.tmp" / "junk").write_text("x")
    assert collect.collect(src, dest) == (["b"], ["a"])
    assert sorted(p.name for p in dest.iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (dest / "b").iterdir()) == [
        "config.json",
        "evaluations.csv",
        "summary.json",
    ]


def test_collect_never_replaces_a_run_that_differs(tmp_path, capsys):
    collect = _collect_module()
    src, dest = tmp_path / "runs", tmp_path / "results"
    _run(src, "a", "completed")
    collect.collect(src, dest)
    (src / "a" / "evaluations.csv").write_text("other\n")  # e.g. a rerun into the same name
    assert collect.main([str(src), str(dest)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs" in err and "evaluations.csv" in err
    assert (dest / "a" / "evaluations.csv").read_text() == "a evaluations.csv\n"


def test_collect_bad_arguments_exit_2(tmp_path, capsys):
    collect = _collect_module()
    assert collect.main([]) == 2
    assert collect.main([str(tmp_path / "missing"), str(tmp_path / "dest")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()


# ----- experiments/campaign.py ---------------------------------------------------------------
def _committed(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "summary.json").write_text('{"status": "completed"}')
    (root / "README").write_text("not a run")
    return root


def test_campaign_plans_what_is_missing_then_the_sweep(tmp_path):
    campaign = load("campaign")
    results, work = _committed(tmp_path / "td3-1m", "a", "b"), tmp_path / "work"
    sweep = EXPERIMENTS / "td3_1m_phase3.yaml"
    head = campaign._git("rev-parse", "HEAD")
    tree, out = work / f"worktree-{head[:7]}", work / "td3-1m"
    steps = campaign.plan(sweep, results, "HEAD", work, 2)
    assert steps[1] == ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), head]
    installs = [s[-1] for s in steps if s[1:4] == ["-m", "pip", "install"]]
    assert installs == ["torch==2.13.0", str(tree)]  # the CPU wheel before the package
    assert ["cp", "-r", str(results / "a"), str(results / "b"), f"{out}/"] in steps
    rlx2 = str(tree / ".venv" / "bin" / "rlx2")
    assert steps[-1] == [rlx2, "sweep", str(sweep), "--out", str(out), "--workers", "2"]
    # once the worktree, its environment and run a are in place, only run b is copied
    (tree / ".venv" / "bin").mkdir(parents=True)
    (tree / ".git").write_text("gitdir: elsewhere")
    (tree / ".venv" / "bin" / "rlx2").write_text("")
    (out / "a").mkdir(parents=True)
    steps = campaign.plan(sweep, results, "HEAD", work, 1)
    assert steps[:-1] == [["mkdir", "-p", str(out)], ["cp", "-r", str(results / "b"), f"{out}/"]]
    assert steps[-1][-1] == "1"


def test_campaign_dry_run_changes_nothing_and_bad_input_exits_2(tmp_path, capsys):
    campaign = load("campaign")
    results, work = _committed(tmp_path / "td3-1m", "a"), tmp_path / "work"
    sweep = str(EXPERIMENTS / "td3_1m_phase3.yaml")
    common = ["--commit", "HEAD", "--workdir", str(work)]
    assert campaign.main([sweep, str(results), *common, "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("+ git") and " sweep " in printed[-1]
    for argv in (
        [str(tmp_path / "none.yaml"), str(results), *common],
        [sweep, str(tmp_path / "none"), *common],
        [sweep, str(results), "--commit", "no-such-commit", "--workdir", str(work)],
        [sweep, str(results), *common, "--workers", "0"],
    ):
        assert campaign.main(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not work.exists()
