"""experiments/topology_dip_probe.py: its replay of a run is the run (the return right after
each actor topology update equals the run's own evaluation at that step), its updates fall
where topology_dips.py says, and what it counts as dropped adds up to the engine's own churn."""

import csv
import json
from pathlib import Path

import pytest
from experiment_scripts import load

from rlx2.cli import main as rlx2_main

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- experiments/topology_dip_probe.py table "

probe = load("topology_dip_probe")
dips = load("topology_dips")


def _train(tmp_path, method="set"):
    run_dir = tmp_path / method
    rlx2_main([
        "train", "--env", "Pendulum-v1", "--method", method, "--actor-sparsity", "0.8",
        "--critic-sparsity", "0.8", "--topology-interval", "75", "--total-steps", "900",
        "--learning-starts", "300", "--batch-size", "32", "--hidden", "16",
        "--eval-every", "150", "--eval-episodes", "2", "--quiet", "--run-dir", str(run_dir),
    ])  # fmt: skip
    return run_dir


@pytest.fixture(scope="module")
def set_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("probe"))


def test_the_replay_is_the_run(set_run, capsys):
    records = probe.probe(set_run, updates=3)
    config = json.loads((set_run / "config.json").read_text())
    # 300 warm-up steps, an actor update every 2 env steps, a topology update every 75 of them
    assert [r["step"] for r in records] == dips.actor_update_steps(config)[:3] == [450, 600, 750]
    evaluations = {
        int(row["step"]): row for row in csv.DictReader(open(set_run / "evaluations.csv"))
    }
    for record in records:
        row = evaluations[record["step"]]
        assert record["return_after"] == float(row["return_mean"])
        # churn = connections grown so far / active connections; one dropped per one grown
        dropped = sum(
            layer["dropped"]
            for r in records
            if r["step"] <= record["step"]
            for layer in r["layers"]
        )
        active = sum(config["effective"]["networks"]["actor"]["active"])
        assert dropped / active == pytest.approx(float(row["churn_actor"]), abs=1e-9)
        assert dropped > 0
        # the smallest weights by magnitude carry less than their share of the layer's |w|
        # (a weight grown at zero on a dead unit may still be zero: share 0)
        per_layer = config["effective"]["networks"]["actor"]["active"]
        for layer, layer_active in zip(record["layers"], per_layer, strict=True):
            if layer["dropped"]:
                assert 0 <= layer["dropped_share_of_abs_w"] < layer["dropped"] / layer_active
    assert all(layer["dropped_share_of_abs_w"] > 0 for layer in records[0]["layers"][:2])
    for earlier, later in zip(records, records[1:], strict=False):
        for old, new in zip(earlier["layers"], later["layers"], strict=True):
            assert 0 <= new["dropped_grown_at_previous_update"] <= old["dropped"]
    assert records[0]["layers"][0]["dropped_grown_at_previous_update"] is None
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


@pytest.mark.parametrize(
    "make, argv, message",
    [
        (None, ["--updates", "2"], "unreadable config.json (missing)"),
        ("set", ["--updates", "0"], "--updates 0: must be at least 1"),
        ("set", ["--updates", "x"], "--updates needs an integer, not 'x'"),
        ("dense", ["--updates", "1"], "method dense evolves no topology"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, argv, message):
    run_dir = _train(tmp_path, make) if make else tmp_path / "nothing"
    capsys.readouterr()
    out = tmp_path / "probe.json"
    assert probe.main(["run", str(run_dir), *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "usage: python experiments/topology_dip_probe.py run"),
        (["run", "somewhere", "--updates", "3"], "usage:"),
        (["table"], "usage: python experiments/topology_dip_probe.py table"),
        (["table", "missing.json"], "cannot tabulate missing.json"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(capsys, argv, message):
    assert probe.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_run_writes_the_records_with_where_they_were_made(set_run, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert probe.main(["run", str(set_run), "--updates", "1", "--out", str(out)]) == 0
    output = json.loads(out.read_text())
    assert output["run"] == set_run.name and output["source"] == str(set_run)
    assert output["probe"]["machine"]["cpu"] and "revision" in output["probe"]
    printed = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert output["records"] == printed and [r["step"] for r in printed] == [450]


def test_an_existing_output_is_never_overwritten(set_run, tmp_path, capsys):
    out = tmp_path / "probe.json"
    out.write_text("kept")
    assert probe.main(["run", str(set_run), "--updates", "1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "kept"


def test_the_results_page_table_is_the_committed_probes(tmp_path):
    """docs/results.md's probe table = `table` of the files its marker names; the files hold
    what `run` writes (the SET replay is also the committed run: same evaluations)."""
    page = (ROOT / "docs" / "results.md").read_text().splitlines()
    marks = [i for i, line in enumerate(page) if line.startswith(MARK)]
    assert marks
    outputs = []
    for at in marks:
        names = page[at][len(MARK) : -len(" -->")].split()
        tabled = [json.loads((ROOT / name).read_text()) for name in names]
        expected = probe.table(tabled)
        assert page[at + 1 : at + 1 + len(expected)] == expected
        outputs += tabled
    for output in outputs:
        assert (ROOT / output["source"] / "config.json").is_file()
        assert len(output["records"]) == 12
    # a replay on the CPU kind of the committed run is that run: the same evaluations
    same_cpu = [o for o in outputs if o["probe"]["machine"]["cpu"] == _cpu(o)]
    assert same_cpu
    for replayed in same_cpu:
        evaluations = {
            int(row["step"]): float(row["return_mean"])
            for row in csv.DictReader(open(ROOT / replayed["source"] / "evaluations.csv"))
        }
        assert all(r["return_after"] == evaluations[r["step"]] for r in replayed["records"])


def _cpu(output):
    config = json.loads((ROOT / output["source"] / "config.json").read_text())
    return config["machine"]["cpu"]


def test_table_refuses_runs_whose_updates_differ(tmp_path):
    a = {"run": "x_a", "records": [{"step": 10, "drop_fraction": 0.5, "return_before": 1.0,
         "return_after": 1.0, "layers": [{"dropped_share_of_abs_w": 0.1}] * 2}]}  # fmt: skip
    b = {**a, "run": "x_b", "records": [{**a["records"][0], "step": 20}]}
    with pytest.raises(probe.ConfigError, match="other steps"):
        probe.table([a, b])
    lines = probe.table([a, {**a, "run": "x_c"}])
    assert lines[0].startswith("| actor update at step | drop fraction | a: return before")
    assert (
        lines[2]
        == "| 10 | 0.500 | 1 → 1 (1.00) | 10.0 % / 10.0 % | 1 → 1 (1.00) | 10.0 % / 10.0 % |"
    )


def test_update_results_doc_rewrites_a_stale_probe_table():
    docs = load("update_results_doc")
    names = "results/topology-dip-probe/td3_HalfCheetah-v5_set_s1.json"
    stale = ["prose", "", f"{MARK}{names} -->", "| old |", "|---|", "| 1 |", "", "more prose"]
    lines = docs.update_probe_tables(stale, ROOT)
    expected = probe.table([json.loads((ROOT / names).read_text())])
    assert lines == [*stale[:3], *expected, "", "more prose"]
