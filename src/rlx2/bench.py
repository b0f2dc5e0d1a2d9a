"""``rlx2 bench``: update and inference time of the dense, masked and sparse backends.

Everything is measured in one process with the real agents (``build_agent``), so a busy
machine slows every backend alike: within each repeat the backends take turns (their order
rotates from repeat to repeat) and the reported figure is the median over repeats of the
mean time per call. ``speedup`` is ``dense_us / sparse_us`` (wall-clock); every figure also
comes as CPU time of the benchmark's thread (``*_cpu_us``, ``speedup_cpu``), which on a
machine shared with other work leaves out the time spent waiting for a core.

* ``update``: one ``agent.update(batch)`` (batch of n-step windows from a replay buffer of
  random transitions; TD3 updates its actor and targets every 2nd update, so the figure is
  the mean of a critic-only and a critic+actor update).
* ``inference_batch1``: ``agent.act_deterministic(obs)`` for one NumPy observation, as when
  acting and evaluating; ``inference_batch256``: the deterministic actor ``actor(obs)`` on a
  batch without autograd, as the dynamic buffer's policy distance.
* ``end_to_end`` (with ``--end-to-end``): training steps/s of ``rlx2 train``'s own loop
  (act, env step, replay, update, evaluation off) for the dense method and RLx2 on the
  sparse backend, over the env steps of ``--end-to-end-window`` after a warm-up of
  ``--end-to-end-learning-starts`` random steps; the runs alternate and the figure is the
  median over ``--end-to-end-repeats``. ``speedup`` is ``sparse / dense`` steps/s. Needs
  ``--env``. benchmarks/peers.py times SB3 and SBX the same way (``StepClock``).

    rlx2 bench --algo td3 --obs-dim 11 --act-dim 3 --actor-sparsity 0.98 --critic-sparsity 0.95
    rlx2 bench --algo sac --env Hopper-v5 --preset paper --markdown bench.md
    rlx2 bench --algo td3 --env Hopper-v5 --preset paper --end-to-end
"""

from __future__ import annotations

import json
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym

from rlx2.config import Algo, _flag, require_positive
from rlx2.errors import ConfigError

BACKENDS = ("dense", "masked", "sparse")
MEASURES = ("update", "inference_batch1", "inference_batch256")


@dataclass(frozen=True)
class BenchConfig:
    """``rlx2 bench``: time TD3/SAC updates and actor inference, dense vs masked vs sparse."""

    algo: Algo = "td3"
    """Algorithm."""
    env: str | None = None
    """Gymnasium id to read the dimensions from (or give --obs-dim and --act-dim)."""
    obs_dim: int | None = None
    """Observation size (instead of --env)."""
    act_dim: int | None = None
    """Action size (instead of --env)."""
    actor_sparsity: float | None = None
    """Actor sparsity in [0, 1) of the masked and sparse networks (or --preset paper)."""
    critic_sparsity: float | None = None
    """Critic sparsity in [0, 1) (both Q heads jointly)."""
    preset: Literal["none", "paper"] = "none"
    """paper: the paper's sparsities for --env and --algo; explicit sparsities win."""
    batch_size: int = 256
    """Transitions per update."""
    hidden: int = 256
    """Width of the two hidden layers."""
    nstep: int = 1
    """n of the n-step windows the updates learn from (3 = RLx2 after its delay)."""
    repeats: int = 15
    """Rounds; each backend is timed once per round and the median over rounds is reported."""
    updates: int = 20
    """Updates per backend per round (even: TD3 updates its actor every 2nd)."""
    inference_calls: int = 200
    """Batch-1 actor calls per backend per round (a tenth of that at batch 256)."""
    threads: int = 1
    """torch intra-op threads."""
    seed: int = 0
    """Seed of the networks, masks and data."""
    markdown: str | None = None
    """Also write the results as a markdown table into this file (its own section)."""
    end_to_end: bool = False
    """Also time short training runs (rlx2 train's loop, evaluation off): dense vs RLx2 on the sparse backend."""
    end_to_end_learning_starts: int = 1_000
    """Random-action warm-up steps of each timed run."""
    end_to_end_window: tuple[int, int] = (2_000, 7_000)
    """Env steps between which training steps/s is timed (the run stops at the second)."""
    end_to_end_repeats: int = 1
    """Timed runs per contender, alternating; the median is reported."""

    def __post_init__(self) -> None:
        if self.env is None and (self.obs_dim is None or self.act_dim is None):
            raise ConfigError("--obs-dim and --act-dim are required unless --env names the task")
        if self.env is not None and (self.obs_dim is not None or self.act_dim is not None):
            raise ConfigError("--env and --obs-dim/--act-dim exclude each other: give one")
        for name in ("obs_dim", "act_dim"):
            if getattr(self, name) is not None:
                require_positive(self, name)
        require_positive(
            self,
            "batch_size",
            "hidden",
            "nstep",
            "repeats",
            "updates",
            "inference_calls",
            "threads",
        )
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        for name in ("actor_sparsity", "critic_sparsity"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value < 1.0):
                raise ConfigError(f"{_flag(name)} must be in [0, 1), got {value!r}")
        if self.preset == "paper" and self.env is None:
            raise ConfigError("--preset paper needs --env (the paper's sparsities are per task)")
        if self.preset == "none" and (self.actor_sparsity is None or self.critic_sparsity is None):
            raise ConfigError(
                "--actor-sparsity and --critic-sparsity are required (or --env with --preset paper)"
            )
        if self.end_to_end:
            if self.env is None:
                raise ConfigError("--end-to-end trains on a task: give --env")
            require_positive(self, "end_to_end_repeats")
            check_window(self.end_to_end_learning_starts, self.end_to_end_window)

    def sparsities(self) -> tuple[float, float]:
        """(actor, critic) sparsity of the masked and sparse networks."""
        from rlx2.presets import paper_sparsities

        paper = paper_sparsities(self.algo, self.env) if self.preset == "paper" else (None, None)  # type: ignore[arg-type]
        actor = self.actor_sparsity if self.actor_sparsity is not None else paper[0]
        critic = self.critic_sparsity if self.critic_sparsity is not None else paper[1]
        assert actor is not None and critic is not None  # __post_init__
        return actor, critic


# ---------------------------------------------------------------- timing


def round_order(names: Sequence[str], round_index: int) -> list[str]:
    """The contenders' order in round ``round_index``: rotated by one each round, so that no
    contender always runs first or always follows the same one."""
    shift = round_index % len(names) if names else 0
    return [*names[shift:], *names[:shift]]


def interleaved_medians(
    fns: dict[str, Callable[[], object]], repeats: int, calls: int
) -> dict[str, float]:
    """Median over ``repeats`` rounds of the mean wall-clock seconds per call of each function
    (:func:`interleaved_times` without the CPU-time figures)."""
    return {name: t["wall"] for name, t in interleaved_times(fns, repeats, calls).items()}


def interleaved_times(
    fns: dict[str, Callable[[], object]], repeats: int, calls: int
) -> dict[str, dict[str, float]]:
    """Median over ``repeats`` rounds of the mean seconds per call of each function, by two
    clocks: ``wall`` (``time.perf_counter``) and ``cpu`` (``time.thread_time``, the CPU time
    of the calling thread: on a machine shared with other processes it leaves out the time
    this process waits for a core, which wall-clock time counts).

    In each round every function runs ``calls`` times, one function after the other, in
    ``round_order``.
    """
    names = list(fns)
    samples: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(repeats):
        for name in round_order(names, r):
            fn = fns[name]
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(calls):
                fn()
            samples[name]["cpu"].append((time.thread_time() - cpu) / calls)
            samples[name]["wall"].append((time.perf_counter() - wall) / calls)
    return {
        name: {clock: statistics.median(values) for clock, values in clocks.items()}
        for name, clocks in samples.items()
    }


def cpu_model() -> str:
    """The CPU's model name, as a run's config.json records it."""
    from rlx2.train.loop import machine_facts

    return machine_facts()["cpu"]


def _row(times: dict[str, dict[str, float]]) -> dict[str, float]:
    """µs per call of each backend by both clocks, and the speedups of sparse over the others
    (``speedup``: wall-clock; ``speedup_cpu``: CPU time)."""
    row = {f"{b}_us": round(times[b]["wall"] * 1e6, 2) for b in BACKENDS}
    row.update({f"{b}_cpu_us": round(times[b]["cpu"] * 1e6, 2) for b in BACKENDS})
    row["speedup"] = round(times["dense"]["wall"] / times["sparse"]["wall"], 3)
    row["speedup_vs_masked"] = round(times["masked"]["wall"] / times["sparse"]["wall"], 3)
    row["speedup_cpu"] = round(times["dense"]["cpu"] / times["sparse"]["cpu"], 3)
    row["speedup_vs_masked_cpu"] = round(times["masked"]["cpu"] / times["sparse"]["cpu"], 3)
    return row


def check_window(learning_starts: int, window: tuple[int, int]) -> None:
    """The timed steps come after the warm-up and at least one update (JIT compilation)."""
    start, stop = window
    if learning_starts < 0:
        raise ConfigError(f"learning starts must be >= 0, got {learning_starts}")
    if not learning_starts < start < stop:
        raise ConfigError(
            f"the timed window {start}..{stop} must start after the {learning_starts} warm-up "
            "steps and end after it starts (learning starts < start < stop)"
        )


class StepClock(gym.Wrapper):
    """An environment wrapper that notes ``perf_counter()`` when its step count reaches each
    end of ``window``.

    The same instrument times rlx2 (``train(wrap_env=...)``) and SB3/SBX (the wrapped env
    passed to them), so every library's steps/s covers exactly the same work: from the
    return of env step ``start`` to the return of env step ``stop``, i.e. ``stop - start``
    whole cycles of update, act, env step and replay insertion.
    """

    def __init__(self, env: gym.Env, window: tuple[int, int]):
        super().__init__(env)
        self.window = window
        self.steps = 0
        self.times: dict[int, float] = {}
        self.cpu_times: dict[int, float] = {}

    def step(self, action: Any) -> Any:
        result = self.env.step(action)
        self.steps += 1
        if self.steps in self.window:
            self.times[self.steps] = time.perf_counter()
            # The process's CPU time (every thread: JAX's too): on a shared machine it leaves
            # out the waits for a core, which the wall clock counts.
            self.cpu_times[self.steps] = time.process_time()
        return result

    def steps_per_second(self) -> float:
        """Env steps per second of wall-clock time over the window."""
        return self._rate(self.times)

    def cpu_steps_per_second(self) -> float:
        """Env steps per second of the process's CPU time over the window."""
        return self._rate(self.cpu_times)

    def _rate(self, times: dict[int, float]) -> float:
        start, stop = self.window
        if stop not in times:
            raise RuntimeError(f"the run ended at env step {self.steps}, before {stop}")
        return (stop - start) / (times[stop] - times[start])


def timed_run_args(
    learning_starts: int, window: tuple[int, int], budget_steps: int = 1_000_000
) -> list[str]:
    """``rlx2 train`` options that make a run the first ``window[1]`` steps of a
    ``budget_steps`` run, evaluation and checkpoints off.

    The run stops at the window's end; ``--budget-scale`` keeps RLx2's time-like settings
    (n-step delay, buffer bounds, buffer checks) those of the long run rather than shrinking
    them to the short one. The topology interval (10 000 updates) is absolute.
    """
    from rlx2.paper import TOTAL_STEPS as PAPER_TOTAL_STEPS

    stop = window[1]
    return [
        *("--total-steps", str(stop), "--learning-starts", str(learning_starts)),
        *("--eval-every", str(stop + 1), "--checkpoint-every", "0"),
        *("--budget-scale", repr(min(1.0, budget_steps / PAPER_TOTAL_STEPS)), "--quiet"),
    ]


def training_steps_per_second(train_args: Sequence[str], window: tuple[int, int]) -> float:
    """Env steps/s of ``rlx2 train TRAIN_ARGS`` between the steps of ``window``, in this
    process, in a temporary run directory (deleted afterwards)."""
    return timed_training(train_args, window).steps_per_second()


def timed_training(train_args: Sequence[str], window: tuple[int, int]) -> StepClock:
    """Run ``rlx2 train TRAIN_ARGS`` in this process, in a temporary run directory (deleted
    afterwards), and return the ``StepClock`` that timed its training env over ``window``."""
    import io
    import tempfile

    from rlx2.config import TrainConfig
    from rlx2.parsing import parse_args
    from rlx2.train.loop import train

    clocks: list[StepClock] = []

    def wrap(env: gym.Env) -> gym.Env:
        clocks.append(StepClock(env, window))
        return clocks[-1]

    with tempfile.TemporaryDirectory(prefix="rlx2-bench-") as tmp:
        config = parse_args(TrainConfig, [*train_args, "--run-dir", f"{tmp}/run"], "rlx2 train")
        train(config, stream=io.StringIO(), wrap_env=wrap)
    (clock,) = clocks  # the training env only
    return clock


# ---------------------------------------------------------------- the measurement


def task_spec(config: BenchConfig) -> Any:
    """The EnvSpec of ``--env``, or of a task with ``--obs-dim``/``--act-dim`` and actions in [-1, 1]."""
    import numpy as np

    from rlx2.train.envs import EnvSpec, check_env

    if config.env is not None:
        return check_env(config.env)
    assert config.obs_dim is not None and config.act_dim is not None
    ones = np.ones(config.act_dim, dtype=np.float32)
    return EnvSpec(
        env_id=f"obs{config.obs_dim}-act{config.act_dim}",
        obs_dim=config.obs_dim,
        act_dim=config.act_dim,
        low=-ones,
        high=ones,
        max_episode_steps=None,
    )


def bench_agent(config: BenchConfig, spec: Any, backend: str, **run: Any) -> Any:
    """The agent ``rlx2 train`` would build for ``backend`` (RigL at the config's sparsities,
    dense for "dense"), seeded with the config's seed; ``run`` overrides RunConfig fields
    (device, compile)."""
    import torch

    from rlx2.config import AgentConfig, RunConfig, SparseConfig, TrainConfig
    from rlx2.train.builders import build_agent

    actor, critic = config.sparsities()
    sparse = (
        SparseConfig()
        if backend == "dense"
        else SparseConfig(method="rigl", actor_sparsity=actor, critic_sparsity=critic)
    )
    train_config = TrainConfig(
        env=spec.env_id,
        algo=config.algo,
        # A long nominal run: no topology update falls inside the timed updates.
        run=RunConfig(
            total_steps=10**9,
            learning_starts=10**6,
            backend=backend,  # type: ignore[arg-type]
            seed=config.seed,
            **run,  # type: ignore[arg-type]
        ),
        agent=AgentConfig(batch_size=config.batch_size, hidden=config.hidden),
        sparse=sparse,
    )
    torch.manual_seed(config.seed)
    return build_agent(train_config, spec)[0]


def _agents(config: BenchConfig, spec: Any) -> dict[str, Any]:
    """One agent per backend from the same seed: identical initial weights, and identical
    masks for masked and sparse."""
    return {backend: bench_agent(config, spec, backend) for backend in BACKENDS}


def random_batches(config: BenchConfig, spec: Any, count: int = 8) -> list[Any]:
    """Replay batches of random transitions (1 % terminations, 0.5 % truncations)."""
    import numpy as np

    from rlx2.value.replay import ReplayBuffer

    rng = np.random.default_rng(config.seed)
    size = max(4 * config.batch_size, 2048)
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, capacity=size, seed=config.seed)
    for _ in range(size):
        action = rng.uniform(spec.low, spec.high).astype(np.float32)
        buffer.add(
            rng.normal(size=spec.obs_dim),
            action,
            float(rng.normal()),
            rng.normal(size=spec.obs_dim),
            bool(rng.random() < 0.01),
            bool(rng.random() < 0.005),
            action,
        )
    return [buffer.sample(config.batch_size, config.nstep) for _ in range(count)]


def end_to_end_args(config: BenchConfig) -> dict[str, list[str]]:
    """``rlx2 train`` options of the two timed runs: the dense method, and RLx2 at the
    config's sparsities on the sparse backend; same task, seed and hyperparameters."""
    assert config.env is not None  # __post_init__
    actor, critic = config.sparsities()
    common = [
        *("--env", config.env, "--algo", config.algo, "--seed", str(config.seed)),
        *("--batch-size", str(config.batch_size), "--hidden", str(config.hidden)),
        *("--threads", str(config.threads)),
        *timed_run_args(config.end_to_end_learning_starts, config.end_to_end_window),
    ]
    return {
        "dense": ["--method", "dense", "--backend", "dense", *common],
        "sparse": [
            *("--method", "rlx2", "--actor-sparsity", repr(actor)),
            *("--critic-sparsity", repr(critic), "--backend", "sparse"),
            *common,
        ],
    }


def end_to_end(config: BenchConfig) -> dict[str, Any]:
    """Training steps/s of the runs of ``end_to_end_args``, alternating, medians."""
    runs = end_to_end_args(config)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(config.end_to_end_repeats):
        for name in round_order(list(runs), r):
            samples[name].append(training_steps_per_second(runs[name], config.end_to_end_window))
    dense, sparse = (statistics.median(samples[name]) for name in ("dense", "sparse"))
    return {
        "sparse_method": "rlx2",
        "learning_starts": config.end_to_end_learning_starts,
        "window": list(config.end_to_end_window),
        "repeats": config.end_to_end_repeats,
        "dense_steps_per_second": round(dense, 1),
        "sparse_steps_per_second": round(sparse, 1),
        "speedup": round(sparse / dense, 3),
        "samples": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "commands": {name: "rlx2 train " + " ".join(args) for name, args in runs.items()},
    }


def measure(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark described by ``config``; returns the JSON-ready result."""
    import torch

    from rlx2.sparse.kernels import weight_matrices

    torch.set_num_threads(config.threads)
    spec = task_spec(config)
    agents = _agents(config, spec)
    batches = random_batches(config, spec)

    def updates_of(agent: Any) -> Callable[[], None]:
        position = [0]

        def update() -> None:
            agent.update(batches[position[0] % len(batches)])
            position[0] += 1

        return update

    updates = {backend: updates_of(agent) for backend, agent in agents.items()}
    for (
        update
    ) in updates.values():  # warm-up: numba compiles (or loads its cache), allocators settle
        for _ in range(max(4, config.updates // 2)):
            update()
    results: dict[str, Any] = {
        "update": _row(interleaved_times(updates, config.repeats, config.updates))  # type: ignore[arg-type]
    }
    generator = torch.Generator().manual_seed(config.seed)
    for batch, calls in ((1, config.inference_calls), (256, max(1, config.inference_calls // 10))):
        obs = torch.randn(batch, spec.obs_dim, generator=generator)
        if batch == 1:  # what acting and evaluating call: one NumPy observation in and out
            obs_np = obs[0].numpy()
            actors = {b: (lambda a=a, o=obs_np: a.act_deterministic(o)) for b, a in agents.items()}
        else:  # a batch of states (the dynamic buffer's policy distance)
            actors = {b: (lambda actor=a.actor, obs=obs: actor(obs)) for b, a in agents.items()}
        with torch.no_grad():
            for actor_call in actors.values():
                for _ in range(max(2, calls // 10)):
                    actor_call()
            results[f"inference_batch{batch}"] = _row(
                interleaved_times(actors, config.repeats, calls)  # type: ignore[arg-type]
            )
    if config.end_to_end:
        results["end_to_end"] = end_to_end(config)
    actor_sparsity, critic_sparsity = config.sparsities()
    sparse_agent = agents["sparse"]
    return {
        "benchmark": "rlx2 bench",
        "algo": config.algo,
        "env": config.env,
        "obs_dim": spec.obs_dim,
        "act_dim": spec.act_dim,
        "actor_sparsity": actor_sparsity,
        "critic_sparsity": critic_sparsity,
        "active_weights": {
            name: sum(int(m.sum()) for m in sparse_agent.updaters()[name].masks.masks)
            for name in ("actor", "critic")
        },
        "dense_weights": {
            name: sum(w.numel() for w in weight_matrices(getattr(sparse_agent, name)))
            for name in ("actor", "critic")
        },
        "batch_size": config.batch_size,
        "hidden": config.hidden,
        "nstep": config.nstep,
        "threads": torch.get_num_threads(),
        "repeats": config.repeats,
        "updates_per_repeat": config.updates,
        **results,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }


# ---------------------------------------------------------------- output


def task_label(result: dict[str, Any]) -> str:
    return result["env"] or f"obs {result['obs_dim']}, act {result['act_dim']}"


def markdown_table(results: list[dict[str, Any]]) -> str:
    """One row per result and measure: CPU times in µs and the speedups (CPU time, with the
    wall-clock speedup in parentheses)."""
    lines = [
        "| algo | task | actor / critic sparsity | measure | dense (µs) | masked (µs) | sparse (µs) | speedup vs dense | vs masked |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "update": "update",
        "inference_batch1": "act, batch 1",
        "inference_batch256": "actor, batch 256",
    }
    for r in results:
        for measure_name in MEASURES:
            row = r[measure_name]
            lines.append(
                f"| {r['algo'].upper()} | {task_label(r)} | {r['actor_sparsity']:.0%} / "
                f"{r['critic_sparsity']:.0%} | {names[measure_name]} | {row['dense_cpu_us']:.0f} | "
                f"{row['masked_cpu_us']:.0f} | {row['sparse_cpu_us']:.0f} | "
                f"**{row['speedup_cpu']:.2f}×** ({row['speedup']:.2f}×) | "
                f"{row['speedup_vs_masked_cpu']:.2f}× ({row['speedup_vs_masked']:.2f}×) |"
            )
    if any("end_to_end" in r for r in results):
        lines += [
            "",
            "| algo | task | actor / critic sparsity | training, dense (steps/s) | RLx2, sparse (steps/s) | speedup | window (env steps) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results:
            if "end_to_end" in r:
                e2e = r["end_to_end"]
                lines.append(
                    f"| {r['algo'].upper()} | {task_label(r)} | {r['actor_sparsity']:.0%} / "
                    f"{r['critic_sparsity']:.0%} | {e2e['dense_steps_per_second']:.0f} | "
                    f"{e2e['sparse_steps_per_second']:.0f} | **{e2e['speedup']:.2f}×** | "
                    f"{e2e['window'][0]}–{e2e['window'][1]} |"
                )
    return "\n".join(lines)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between <!-- name:start --> and <!-- name:end -->."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def cli_main(args: list[str]) -> None:
    """``rlx2 bench``: prints the result as JSON (and writes --markdown)."""
    from rlx2.parsing import parse, parse_args

    config: BenchConfig = parse(BenchConfig, args, "rlx2 bench")
    config.sparsities()  # an --env outside the paper's table fails here, before any work
    if config.end_to_end:  # so do options rlx2 train would reject (e.g. warm-up < batch)
        from rlx2.config import TrainConfig

        for train_args in end_to_end_args(config).values():
            parse_args(TrainConfig, train_args, "rlx2 train")
    from rlx2.config import numba_available

    if not numba_available():
        raise ConfigError(
            "rlx2 bench times the sparse backend, which needs numba (pip install numba)"
        )
    result = measure(config)
    print(json.dumps(result, indent=2))
    if config.markdown:
        label = re.sub(r"[^A-Za-z0-9]+", "-", task_label(result)).strip("-")
        write_section(
            Path(config.markdown),
            f"rlx2-bench-{config.algo}-{label}",
            markdown_table([result]),
        )


__all__ = [
    "BenchConfig",
    "StepClock",
    "cli_main",
    "cpu_model",
    "interleaved_medians",
    "interleaved_times",
    "markdown_table",
    "measure",
    "round_order",
    "timed_run_args",
    "timed_training",
    "training_steps_per_second",
]
