"""Statistics of the report as pure functions of score arrays (spec §8).

Scores follow rliable's layout: a ``[num_runs, num_tasks]`` array where ``scores[n, m]`` is
the final score of run (seed) ``n`` on task ``m``. Within one report group there is one
task, so the arrays are ``[num_seeds, 1]``.

The IQM is rliable's ``metrics.aggregate_iqm`` (scipy's 25 % trimmed mean) and the
confidence intervals are rliable's stratified bootstrap with the percentile method
(``library.get_interval_estimates(..., method="percentile")``), both vectorised over
bootstrap replicates here. We do not call ``rliable.library`` because it draws its
resampling indices from NumPy's *global* generator, ignoring the ``random_state`` it is
given (a report would change with whatever ran before it), and because it imports ``arch``,
whose 7.x releases fail to import under pandas 3 while 8.x rejects rliable 1.2's
``random_state`` argument. Given the same seed, ``stratified_bootstrap_ci`` draws exactly the
indices rliable draws after ``np.random.seed(seed)``; the tests check the intervals agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps scores [..., num_runs, num_tasks] to [...]: one value per leading index (vectorised
over bootstrap replicates)."""


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over runs and tasks, equal to rliable's ``metrics.aggregate_iqm``.

    scores [..., num_runs, num_tasks] -> [...]: the 25 % trimmed mean (scipy's trim_mean,
    as rliable computes it) of all runs and tasks; with 8 runs, the mean of sorted runs 3..6.
    Returns a NumPy scalar for a 2-D input.
    """
    from scipy.stats import trim_mean

    scores = np.asarray(scores, dtype=np.float64)
    flat = scores.reshape(*scores.shape[:-2], -1)  # [..., num_runs * num_tasks]
    return trim_mean(flat, proportiontocut=0.25, axis=-1)


def iqm_1d(samples: np.ndarray) -> np.ndarray:
    """Interquartile mean over the last axis (one task): samples [..., num_runs] -> [...]."""
    return iqm(np.asarray(samples, dtype=np.float64)[..., None])


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over runs and tasks: scores [..., num_runs, num_tasks] -> [...]."""
    return np.mean(scores, axis=(-2, -1))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_std of no values")
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return float(np.mean(array)), std


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic: Statistic,
    reps: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of ``statistic`` under a stratified bootstrap.

    scores [num_runs, num_tasks]: each replicate resamples runs with replacement
    independently within every task (column), as rliable's ``StratifiedBootstrap`` does
    (task_bootstrap=False), and applies ``statistic`` to the resampled
    [num_runs, num_tasks] array. Returns the (1 - confidence) / 2 and (1 + confidence) / 2
    percentiles of the ``reps`` replicates (NumPy's linear interpolation, as arch does).
    ``statistic`` gets all replicates at once, [reps, num_runs, num_tasks] -> [reps].
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(
            f"scores must be a non-empty [num_runs, num_tasks] array, got {scores.shape}"
        )
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    num_runs, num_tasks = scores.shape
    # Legacy RandomState: one choice() call per replicate in rliable equals one call for all.
    rng = np.random.RandomState(seed)
    run_index = rng.choice(
        num_runs, (reps, num_runs, num_tasks), replace=True
    )  # [reps, runs, tasks]
    task_index = np.arange(num_tasks)[None, :]  # [1, tasks]: each column stays its own task
    replicates = statistic(scores[run_index, task_index])  # [reps, runs, tasks] -> [reps]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def two_sample_bootstrap_ci(
    first: np.ndarray,
    second: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    reps: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of a statistic of two independent samples, each resampled on its own.

    first [n1], second [n2] (e.g. the seeds' final scores at one sparsity and of dense; the
    sizes may differ): each replicate draws n1 runs of ``first`` and n2 runs of ``second``
    with replacement, a stratified bootstrap with the two samples as strata.
    ``statistic`` gets all replicates at once, ([reps, n1], [reps, n2]) -> [reps]. The
    indices of ``first`` are drawn before those of ``second``, from one legacy RandomState,
    so the same seed gives the same interval. Returns (nan, nan) when any replicate is not
    finite: the statistic is undefined on some plausible resample, so no interval is honest.
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.ndim != 1 or second.ndim != 1 or first.size == 0 or second.size == 0:
        raise ValueError(
            f"samples must be non-empty 1-D arrays, got {first.shape} and {second.shape}"
        )
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.RandomState(seed)
    first_index = rng.choice(first.size, (reps, first.size), replace=True)  # [reps, n1]
    second_index = rng.choice(second.size, (reps, second.size), replace=True)  # [reps, n2]
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = np.asarray(statistic(first[first_index], second[second_index]))  # [reps]
    if not np.all(np.isfinite(replicates)):
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def bootstrap_mean_band(
    curves: np.ndarray, reps: int, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile bootstrap band of the mean learning curve over runs.

    curves [num_runs, num_steps] -> (low [num_steps], high [num_steps]): runs are resampled
    with replacement (whole curves, so each replicate is a plausible set of seeds).
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[0] == 0:
        raise ValueError(
            f"curves must be a non-empty [num_runs, num_steps] array, got {curves.shape}"
        )
    num_runs = curves.shape[0]
    rng = np.random.RandomState(seed)
    run_index = rng.choice(num_runs, (reps, num_runs), replace=True)  # [reps, runs]
    # How often each run was drawn, so the means are one product: memory [reps, steps], not
    # [reps, runs, steps] (600 evaluation steps × 2000 replicates × 8 seeds would be 77 MB).
    counts = np.zeros((reps, num_runs))
    np.add.at(counts, (np.arange(reps)[:, None], run_index), 1.0)
    replicate_means = counts @ curves / num_runs  # [reps, steps]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicate_means, [100.0 * alpha, 100.0 * (1.0 - alpha)], axis=0)
    return low, high


def percent_of(value: float | None, reference: float | None) -> float | None:
    """``value`` as % of ``reference`` (spec §8: % of the dense final score).

    None when there is no reference, or when the reference is <= 0: a ratio to a negative or
    zero score does not say "how much of dense performance" (Pendulum's returns are negative).
    """
    if value is None or reference is None or not math.isfinite(reference) or reference <= 0:
        return None
    return 100.0 * value / reference


def common_steps(step_lists: Sequence[Sequence[float]]) -> list[float]:
    """Evaluation steps present in every run, in increasing order (curves of unequal runs)."""
    if not step_lists:
        return []
    shared = set(step_lists[0]).intersection(*map(set, step_lists[1:]))
    return sorted(shared)


# ------------------------------------------------- comparisons across tasks (rliable)
# Tasks may hold different numbers of seeds, so these take one 1-D array per task.


def _check_tasks(*task_lists: Sequence[np.ndarray]) -> None:
    for tasks in task_lists:
        if not tasks or any(np.asarray(t).ndim != 1 or np.asarray(t).size == 0 for t in tasks):
            raise ValueError("need at least one task, each a non-empty 1-D array of scores")
    if len({len(tasks) for tasks in task_lists}) != 1:
        raise ValueError("both methods need scores on the same tasks")


def _pairwise_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x [..., n], y [..., k] -> [...]: mean over the n·k pairs of 1{x>y} + ½·1{x=y}."""
    xs, ys = x[..., :, None], y[..., None, :]
    return ((xs > ys) + 0.5 * (xs == ys)).mean(axis=(-2, -1))


def probability_of_improvement(
    x_tasks: Sequence[np.ndarray], y_tasks: Sequence[np.ndarray]
) -> float:
    """rliable's P(X > Y): per task, the probability that a run of X scores above a run of Y
    (the Mann–Whitney U statistic over n·k, ties counting ½), averaged over tasks."""
    _check_tasks(x_tasks, y_tasks)
    return float(
        np.mean(
            [
                _pairwise_improvement(np.asarray(x, float), np.asarray(y, float))
                for x, y in zip(x_tasks, y_tasks, strict=True)
            ]
        )
    )


def probability_of_improvement_ci(
    x_tasks: Sequence[np.ndarray],
    y_tasks: Sequence[np.ndarray],
    reps: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of :func:`probability_of_improvement` under a stratified independent
    bootstrap (rliable's for this metric): every replicate resamples, within every task, the
    runs of X and the runs of Y independently with replacement."""
    _check_tasks(x_tasks, y_tasks)
    rng = np.random.RandomState(seed)
    per_task = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        x, y = np.asarray(x, float), np.asarray(y, float)
        xi = rng.choice(x.size, (reps, x.size), replace=True)  # [reps, n]
        yi = rng.choice(y.size, (reps, y.size), replace=True)  # [reps, k]
        per_task.append(_pairwise_improvement(x[xi], y[yi]))  # [reps]
    replicates = np.mean(per_task, axis=0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def performance_profile(tasks: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """rliable's score distribution: for each τ, the fraction of runs scoring above τ, the
    fraction computed per task and averaged over tasks (each task weighs the same).
    tasks: one [n_m] array of normalized scores per task; taus [T] -> [T]."""
    _check_tasks(tasks)
    taus = np.asarray(taus, float)
    return np.mean([(np.asarray(t, float)[:, None] > taus).mean(axis=0) for t in tasks], axis=0)


def performance_profile_band(
    tasks: Sequence[np.ndarray],
    taus: np.ndarray,
    reps: int,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of :func:`performance_profile`: runs resampled within each
    task (stratified bootstrap). Returns (low [T], high [T])."""
    _check_tasks(tasks)
    taus = np.asarray(taus, float)
    rng = np.random.RandomState(seed)
    fractions = []
    for t in tasks:
        t = np.asarray(t, float)
        index = rng.choice(t.size, (reps, t.size), replace=True)  # [reps, n]
        fractions.append((t[index][:, :, None] > taus).mean(axis=1))  # [reps, T]
    replicates = np.mean(fractions, axis=0)  # [reps, T]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [100.0 * alpha, 100.0 * (1.0 - alpha)], axis=0)
    return low, high
