"""The ultimate compression ratio (spec §8): the highest sparsity at which a method keeps its
performance within a threshold (the paper's 3 %) of dense.

A *ladder* is one method (algorithm, task, method label) trained at several sparsity levels,
several seeds each, beside dense runs of the same task. Everything here is a pure function of
the seeds' final scores, except ``random_policy_score`` (which runs the task). The
definitions, and why they were chosen (docs/compression.md):

- **Statistic**: the IQM of the seeds' final scores, of each level and of dense.
- **% of dense** of a level: ``100 · (IQM_level − b) / (IQM_dense − b)``, where ``b`` is the
  score that counts as no performance at all. ``b = 0`` is the paper's "% of dense" (spec
  §8). On a task whose dense score is <= 0 (Pendulum's returns are negative) a ratio to 0 is
  meaningless (−160 / −150 = 107 % for a *worse* score), so ``b`` is then the score of a
  uniform random policy: the % of dense is the fraction of dense's improvement over random
  that the level keeps. Higher returns are better on every task, so a larger % is always
  better, whatever the sign of the returns.
- **Interval**: a percentile bootstrap CI of that % in which the level's seeds and dense's
  seeds are resampled independently (two strata); ``b`` is held fixed.
- **Passing**: ``% >= 100 − threshold`` for the point estimate (criterion ``point``, the
  paper's), or for the CI's lower bound (criterion ``lower``, a conservative reading).
- **Order**: levels by compression ratio (1 / model size, spec §9), then actor and critic
  sparsity.
- **The ultimate level** is the most compressed level that passes, as the paper defines it,
  even if a less compressed level fails (a non-monotone ladder). The most compressed level
  below which *every* level passes is reported beside it ("contiguous").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rlx2 import paper
from rlx2.errors import ConfigError
from rlx2.experiments import stats

BASELINE_WORDS = ("auto", "zero", "random")
RANDOM_EPISODES = 100
"""Episodes of the uniform random policy behind ``--baseline random`` (its standard error is
then a tenth of one episode's spread; it is held fixed in the bootstrap)."""


@dataclass(frozen=True)
class CompressionOptions:
    """How the ultimate compression ratio is judged (``rlx2 report`` and ``rlx2 compress``)."""

    threshold: float = paper.COMPRESSION_THRESHOLD
    """A sparsity level passes when it keeps at least (100 − threshold) % of dense performance (the paper: 3)."""
    criterion: Literal["point", "lower"] = "point"
    """point: the IQM's % of dense must pass (the paper's reading); lower: the lower bound of its bootstrap CI must."""
    baseline: str = "auto"
    """Score counted as no performance in % of dense: zero (the paper's), random (a uniform random policy, 100 episodes), a number, or auto (zero when the dense IQM is > 0, else random)."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold < 100.0):
            raise ConfigError(f"--threshold must be in [0, 100), got {self.threshold!r}")
        if self.baseline not in BASELINE_WORDS:
            try:
                value = float(self.baseline)
            except ValueError:
                raise ConfigError(
                    f"--baseline must be auto, zero, random or a number, got {self.baseline!r}"
                ) from None
            if not math.isfinite(value):
                raise ConfigError(f"--baseline must be finite, got {self.baseline!r}")

    @property
    def pass_mark(self) -> float:
        """The % of dense a level needs."""
        return 100.0 - self.threshold


@dataclass(frozen=True)
class Level:
    """One rung of a ladder: its sparsities, the seeds' final scores and the compute ratios."""

    actor_sparsity: float
    critic_sparsity: float
    scores: tuple[float, ...]
    ratios: Mapping[str, float | None] = field(default_factory=dict)
    """model_size_ratio, compression_ratio, train_flops_ratio, inference_flops_ratio (spec §9)."""

    @property
    def compression_ratio(self) -> float | None:
        return self.ratios.get("compression_ratio")


@dataclass(frozen=True)
class LevelResult:
    level: Level
    iqm: float
    pct: float | None
    """% of dense (None when it is undefined: no dense, or dense not above the baseline)."""
    ci_low: float | None
    ci_high: float | None
    """Bootstrap CI of ``pct`` (None when undefined on some resample, or no dense)."""
    passes_point: bool
    passes_lower: bool
    passes: bool
    """By the chosen criterion."""


@dataclass(frozen=True)
class LadderResult:
    """The compression search of one method on one task."""

    algo: str
    env: str
    label: str
    options: CompressionOptions
    confidence: float
    dense_iqm: float | None
    dense_seeds: int
    baseline: float | None
    baseline_source: str
    levels: tuple[LevelResult, ...]
    """In increasing compression."""
    ultimate: int | None
    """Index in ``levels`` of the most compressed passing level (the paper's definition)."""
    contiguous: int | None
    """Index of the most compressed level such that it and every less compressed level pass."""
    notes: tuple[str, ...] = ()

    def statement(self) -> str:
        """The result in one paragraph, with its interval and compute ratios."""
        head = f"{self.algo.upper()} {self.label} on {self.env}"
        if self.dense_iqm is None:
            return f"{head}: no dense runs of this task, so no % of dense and no compression ratio."
        if not self.levels or self.levels[0].pct is None:
            return (
                f"{head}: the dense IQM ({self.dense_iqm:.4g}) is not above the baseline "
                f"({self.baseline_source}), so % of dense is undefined; choose another --baseline."
            )
        pct_ci = int(round(100 * self.confidence))
        mark = f"{self.options.pass_mark:g} %"
        if self.ultimate is None:
            first = self.levels[0]
            return (
                f"{head}: no level keeps {mark} of dense ({self.criterion_text()}); the least "
                f"compressed, {_pair(first.level)}, keeps {_pct(first.pct)} "
                f"[{pct_ci} % CI {_pct(first.ci_low, False)}, {_pct(first.ci_high, False)}]."
            )
        best = self.levels[self.ultimate]
        ratios = best.level.ratios
        text = (
            f"{head}: ultimate compression ratio {_num(ratios.get('compression_ratio'), 1)}× at "
            f"sparsity {_pair(best.level)} (actor / critic), keeping {_pct(best.pct)} of dense "
            f"[{pct_ci} % CI {_pct(best.ci_low, False)}, {_pct(best.ci_high, False)}] "
            f"({len(best.level.scores)} seeds, {self.dense_seeds} dense); model size "
            f"{_num(ratios.get('model_size_ratio'), 3)}, training FLOPs "
            f"{_num(ratios.get('train_flops_ratio'), 3)}, inference FLOPs "
            f"{_num(ratios.get('inference_flops_ratio'), 3)} of dense."
        )
        failing = [r for r in self.levels[: self.ultimate] if not r.passes]
        if not failing:
            return text + " Every less compressed level passes too."
        below = ", ".join(f"{_pair(r.level)} ({_pct(r.pct)})" for r in failing)
        verb = "fails" if len(failing) == 1 else "fail"
        if self.contiguous is None:
            contiguous = (
                "no level has every less compressed level passing (the least compressed fails)"
            )
        else:
            c = self.levels[self.contiguous]
            contiguous = (
                "the most compressed level with every less compressed level passing is "
                f"{_pair(c.level)} ({_num(c.level.ratios.get('compression_ratio'), 1)}×)"
            )
        return text + f" Not monotone: {below} below it {verb}; {contiguous}."

    def criterion_text(self) -> str:
        which = "IQM" if self.options.criterion == "point" else "lower CI bound of the IQM"
        return f"{which} >= {self.options.pass_mark:g} % of dense"


def _pair(level: Level) -> str:
    return f"{level.actor_sparsity:g} / {level.critic_sparsity:g}"


def _pct(value: float | None, unit: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}" + (" %" if unit else "")


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# ------------------------------------------------------------------------- pure statistics


def percent_of_dense(
    values: np.ndarray | float, dense: np.ndarray | float, baseline: float
) -> np.ndarray:
    """``100 · (values − baseline) / (dense − baseline)``, elementwise; NaN where
    ``dense <= baseline`` (dense is not better than no performance: no ratio means anything)."""
    values = np.asarray(values, dtype=np.float64)
    dense = np.asarray(dense, dtype=np.float64)
    span = dense - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, 100.0 * (values - baseline) / span, np.nan)


def _iqm_rows(scores: np.ndarray) -> np.ndarray:
    """IQM of each row: [reps, runs] -> [reps] (one task)."""
    return stats.iqm(scores[..., None])


def highest_passing(passes: Sequence[bool]) -> int | None:
    """Index of the last passing level (levels in increasing compression), or None."""
    return max((i for i, ok in enumerate(passes) if ok), default=None)


def highest_contiguous(passes: Sequence[bool]) -> int | None:
    """Index of the last level of the passing run that starts at the least compressed level."""
    last = None
    for i, ok in enumerate(passes):
        if not ok:
            break
        last = i
    return last


def order_levels(levels: Sequence[Level]) -> list[Level]:
    """Increasing compression: by compression ratio when every level has one, else by sparsities."""
    if all(level.compression_ratio is not None for level in levels):
        return sorted(
            levels, key=lambda v: (v.compression_ratio, v.actor_sparsity, v.critic_sparsity)
        )
    return sorted(levels, key=lambda v: (v.actor_sparsity, v.critic_sparsity))


def evaluate_level(
    level: Level,
    dense_scores: Sequence[float],
    baseline: float,
    options: CompressionOptions,
    reps: int,
    confidence: float,
    seed: int,
) -> LevelResult:
    """% of dense of one level, its CI, and whether it passes."""
    scores = np.asarray(level.scores, dtype=np.float64)
    dense = np.asarray(dense_scores, dtype=np.float64)
    iqm = float(_iqm_rows(scores))
    pct = float(percent_of_dense(iqm, float(_iqm_rows(dense)), baseline))
    if not math.isfinite(pct):
        return LevelResult(level, iqm, None, None, None, False, False, False)
    low, high = stats.two_sample_bootstrap_ci(
        scores,
        dense,
        lambda s, d: percent_of_dense(_iqm_rows(s), _iqm_rows(d), baseline),
        reps,
        confidence,
        seed,
    )
    ci_low = low if math.isfinite(low) else None
    ci_high = high if math.isfinite(high) else None
    passes_point = pct >= options.pass_mark
    passes_lower = ci_low is not None and ci_low >= options.pass_mark
    passes = passes_point if options.criterion == "point" else passes_lower
    return LevelResult(level, iqm, pct, ci_low, ci_high, passes_point, passes_lower, passes)


def search_ladder(
    algo: str,
    env: str,
    label: str,
    levels: Sequence[Level],
    dense_scores: Sequence[float] | None,
    baseline: float | None,
    baseline_source: str,
    options: CompressionOptions,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    notes: Sequence[str] = (),
) -> LadderResult:
    """Every level's % of dense and CI, and the ultimate (and contiguous) level."""
    ordered = order_levels(levels)
    notes = list(notes)
    if any(level.compression_ratio is None for level in ordered):
        notes.append("compression ratio missing for a level: levels ordered by sparsity")
    if dense_scores is None or baseline is None:
        dense_iqm = None if dense_scores is None else float(_iqm_rows(np.asarray(dense_scores)))
        results = tuple(
            LevelResult(
                v, float(_iqm_rows(np.asarray(v.scores))), None, None, None, False, False, False
            )
            for v in ordered
        )
        return LadderResult(
            algo, env, label, options, confidence, dense_iqm,
            0 if dense_scores is None else len(dense_scores), baseline, baseline_source,
            results, None, None, tuple(notes),
        )  # fmt: skip
    results = tuple(
        evaluate_level(v, dense_scores, baseline, options, reps, confidence, seed) for v in ordered
    )
    if any(r.pct is not None and r.ci_low is None for r in results):
        notes.append(
            "a bootstrap resample of dense fell to the baseline or below: CI undefined there"
        )
    passes = [r.passes for r in results]
    return LadderResult(
        algo=algo,
        env=env,
        label=label,
        options=options,
        confidence=confidence,
        dense_iqm=float(_iqm_rows(np.asarray(dense_scores, dtype=np.float64))),
        dense_seeds=len(dense_scores),
        baseline=baseline,
        baseline_source=baseline_source,
        levels=results,
        ultimate=highest_passing(passes),
        contiguous=highest_contiguous(passes),
        notes=tuple(notes),
    )


# -------------------------------------------------------------------------------- baseline


@functools.cache  # deterministic: a report measures each task once, whatever it is asked
def random_policy_score(env_id: str, episodes: int = RANDOM_EPISODES, seed: int = 0) -> float:
    """Mean return of a uniform random policy on ``env_id``: ``episodes`` episodes on an env
    seeded as a run of seed ``seed`` evaluates (seed + 100), actions from ``default_rng(seed)``.
    Deterministic for a given Gymnasium version."""
    from rlx2.train.envs import describe_env, make_env
    from rlx2.train.evaluate import evaluate, evaluation_seed

    env = make_env(env_id)
    try:
        spec = describe_env(env, env_id)  # a 1-D Box with finite bounds, as rlx2 train needs
        rng = np.random.default_rng(seed)

        def policy(_obs: np.ndarray) -> np.ndarray:
            return rng.uniform(spec.low, spec.high).astype(np.float32)

        return float(np.mean(evaluate(policy, env, episodes, evaluation_seed(seed))))
    finally:
        env.close()


def resolve_baseline(
    option: str,
    env_id: str,
    dense_iqm: float,
    measure: Callable[[str], float] = random_policy_score,
) -> tuple[float, str]:
    """The baseline score of a task and a description of where it came from."""
    if option == "zero" or (option == "auto" and dense_iqm > 0):
        return 0.0, "0"
    if option in ("random", "auto"):
        try:
            value = measure(env_id)
        except ConfigError as exc:
            raise ConfigError(
                f"--baseline {option}: cannot run a random policy on {env_id} ({exc}); "
                "give --baseline NUMBER"
            ) from None
        return value, f"random policy {value:.4g} ({RANDOM_EPISODES} episodes)"
    value = float(option)
    return value, f"{value:g} (given)"
