"""docs/api.md cannot rot: its Python examples run, in order, in one namespace, and its
config-file example is a valid `rlx2 train --config` file."""

import re
from pathlib import Path

from rlx2.cli import config_file_args
from rlx2.config import TrainConfig
from rlx2.parsing import parse_args

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def code_blocks(language: str) -> list[str]:
    """The fenced blocks of docs/api.md whose info string is ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", API_DOC.read_text(), re.M | re.S)


def test_every_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = code_blocks("python")
    assert len(blocks) >= 6, "the page lost its examples"
    monkeypatch.chdir(tmp_path)  # the examples write runs/ and a CSV where they run
    namespace: dict = {"__name__": "__docs__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/api.md python block {i}", "exec"), namespace)
    out = capsys.readouterr().out
    # The error example prints the messages its comments show.
    assert "unknown option 'total_step'; did you mean 'total_steps'?" in out
    assert "--gamma must be in (0, 1], got 1.5" in out
    assert not (tmp_path / "runs" / "never-written").exists()
    assert (tmp_path / "pendulum-evaluations.csv").read_bytes() == (
        tmp_path / "runs" / "pendulum-td3" / "evaluations.csv"
    ).read_bytes()


def test_config_file_example_is_valid(tmp_path):
    (block,) = code_blocks("yaml")
    path = tmp_path / "hopper-rlx2.yaml"
    path.write_text(block)
    config = parse_args(TrainConfig, config_file_args(["--config", str(path), "--seed", "2"]))
    assert (config.env, config.sparse.method, config.sparse.preset) == (
        "Hopper-v5",
        "rlx2",
        "paper",
    )
    assert config.run.total_steps == 1_000_000 and config.run.seed == 2
    assert config.value.dynamic_buffer == "on"
