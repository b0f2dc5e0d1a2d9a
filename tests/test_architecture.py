"""Layer independence (STYLE §2.7): contracts in pyproject.toml, checked by import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        pytest.fail("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_rlx2_does_not_import_torch():
    code = "import sys, rlx2; assert 'torch' not in sys.modules, 'import rlx2 pulled in torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_options_resolve_without_torch():
    """Validating and resolving a run's options (a sparse method, a topology name, the
    backend, the allocation) needs no torch: `rlx2 cost`, `sweep --dry-run` and `report`
    start fast, and rlx2.config never reaches torch through the sparse engine."""
    code = (
        "import sys\n"
        "from rlx2.config import SparseConfig, TrainConfig\n"
        "from rlx2.resolve import resolve_run\n"
        "config = TrainConfig(env='Hopper-v5', sparse=SparseConfig(method='rlx2', "
        "preset='paper', topology='set'))\n"
        "resolved = resolve_run(config, 11, 3)\n"
        "assert resolved.topology.scheme == 'set' and sum(resolved.actor.active) > 0\n"
        "assert 'torch' not in sys.modules, 'resolving options pulled in torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_list_of_methods_and_algorithms():
    """The CLI's choices are the method table and the algorithms the shapes know."""
    from typing import get_args

    from rlx2.algorithms import ALGORITHMS
    from rlx2.config import Algo, Method
    from rlx2.presets import METHODS
    from rlx2.sparse import accounting

    assert get_args(Method) == tuple(METHODS) == accounting.METHODS
    assert get_args(Algo) == tuple(ALGORITHMS) == accounting.ALGOS


# Modules that may name an algorithm: the registry, the algorithms' own code and networks,
# their option sections, and the paper's per-algorithm numbers. Everything else asks the
# registry (rlx2.algorithms), so a third algorithm touches only these.
MAY_NAME_ALGORITHMS = {
    "algorithms.py": "the registry",
    "algos": "the algorithms",
    "nets.py": "each algorithm's actor head",
    "config.py": "each algorithm's option section and the --algo default",
    "bench.py": "the --algo default of rlx2 bench",
    "paper.py": "the paper's per-algorithm constants",
    "presets.py": "the paper's per-algorithm sparsities",
    "value/capacity.py": "the engine's defaults: the reference TD3 buffer bounds",
}


def test_only_the_registry_and_the_algorithms_name_an_algorithm():
    """No module outside MAY_NAME_ALGORITHMS branches on, or indexes by, an algorithm name."""
    import ast

    from rlx2.algorithms import ALGORITHMS

    src = ROOT / "src" / "rlx2"
    found = []
    for path in sorted(src.rglob("*.py")):
        relative = path.relative_to(src).as_posix()
        if any(relative == a or relative.startswith(a + "/") for a in MAY_NAME_ALGORITHMS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            named = (isinstance(node, ast.Constant) and node.value in ALGORITHMS) or (
                isinstance(node, ast.Attribute) and node.attr in ALGORITHMS
            )
            if named:
                found.append(f"{relative}:{node.lineno}")
    assert not found, f"algorithm named outside its registration: {found}"


def test_every_registered_algorithm_has_its_section_agent_and_protocol():
    """Registration, config section and agent class agree; the agent has what Agent requires."""
    import dataclasses
    import inspect

    from rlx2.algorithms import ALGORITHMS
    from rlx2.algos.common import Agent
    from rlx2.config import TrainConfig

    sections = {f.name for f in dataclasses.fields(TrainConfig)}
    required = {name for name in dir(Agent) if not name.startswith("_")} | set(
        Agent.__annotations__
    )
    for name, spec in ALGORITHMS.items():
        assert spec.name == name and name in sections, name
        agent = spec.agent_class()
        assert "config" in inspect.signature(agent).parameters, name
        option = spec.actor_delay_option
        assert option is None or hasattr(spec.section(TrainConfig()), option), name
        source = inspect.getsource(agent)
        missing = [
            m
            for m in required
            if not hasattr(agent, m) and f"self.{m} =" not in source and f"self.{m}, " not in source
        ]
        assert not missing, (name, missing)


def test_option_defaults_are_the_paper_constants():
    """Each paper value is written once (rlx2.paper): options and engines agree on it."""
    from rlx2 import paper
    from rlx2.config import SparseConfig, TrainConfig, ValueConfig
    from rlx2.sparse.schedule import DropSchedule
    from rlx2.value.capacity import DynamicCapacityConfig

    config, sparse, value = TrainConfig(), SparseConfig(), ValueConfig()
    schedule, capacity = DropSchedule(end_update=1), DynamicCapacityConfig()
    assert sparse.drop_fraction == schedule.initial_fraction == paper.DROP_FRACTION
    assert sparse.topology_interval == schedule.interval_updates == paper.TOPOLOGY_INTERVAL
    assert value.distance_threshold == capacity.threshold == paper.DISTANCE_THRESHOLD
    assert value.distance_samples == capacity.num_oldest == paper.DISTANCE_SAMPLES
    assert value.shrink_fraction == capacity.shrink_fraction == paper.SHRINK_FRACTION
    assert config.run.total_steps == paper.TOTAL_STEPS and config.agent.hidden == paper.HIDDEN
    assert config.td3.policy_delay == paper.TD3_POLICY_DELAY
