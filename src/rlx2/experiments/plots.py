"""PNG plots of the report: learning curves per task, final score against sparsity.

Each function takes plain arrays and returns PNG bytes (the caller writes them atomically).
Figures are built on matplotlib's Agg canvas directly, so nothing touches pyplot's global
state or needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurveSeries:
    """One method's learning curve: mean over seeds at the steps all its seeds evaluated."""

    label: str
    steps: np.ndarray
    """[num_steps] env steps."""
    mean: np.ndarray
    """[num_steps] mean evaluation return over seeds."""
    band: tuple[np.ndarray, np.ndarray] | None
    """(low, high), each [num_steps]: confidence band of the mean; None for one seed."""
    num_seeds: int


@dataclass(frozen=True)
class SparsityPoint:
    actor_sparsity: float
    critic_sparsity: float
    score: float
    ci_low: float
    ci_high: float


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), dpi=120)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot(1, 1, 1)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def learning_curves_png(series: Sequence[CurveSeries], title: str) -> bytes:
    """Evaluation return against env steps, one line (and band) per method."""
    figure, axes = _figure()
    for index, curve in enumerate(series):
        color = f"C{index % 10}"
        axes.plot(
            curve.steps,
            curve.mean,
            color=color,
            marker="o" if len(curve.steps) <= 12 else None,
            markersize=3,
            label=f"{curve.label} ({curve.num_seeds} seed{'s' if curve.num_seeds != 1 else ''})",
        )
        if curve.band is not None:
            axes.fill_between(
                curve.steps, curve.band[0], curve.band[1], color=color, alpha=0.2, linewidth=0
            )
    axes.set_xlabel("environment steps")
    axes.set_ylabel("evaluation return")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    axes.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    return _png(figure)


def sparsity_png(
    points: Mapping[str, Sequence[SparsityPoint]], title: str, dense_score: float | None
) -> bytes:
    """Final score against sparsity, one line per method with CI error bars.

    The x axis is the actor sparsity, unless every method varied only its critic sparsity;
    each point is annotated "actor/critic" so pairs stay readable either way.
    """
    use_critic = all(
        len({p.actor_sparsity for p in pts}) == 1 and len({p.critic_sparsity for p in pts}) > 1
        for pts in points.values()
    )
    figure, axes = _figure()
    for index, (label, pts) in enumerate(points.items()):
        pts = sorted(pts, key=lambda p: p.critic_sparsity if use_critic else p.actor_sparsity)
        x = np.array([p.critic_sparsity if use_critic else p.actor_sparsity for p in pts])
        y = np.array([p.score for p in pts])
        errors = np.array([[p.score - p.ci_low for p in pts], [p.ci_high - p.score for p in pts]])
        axes.errorbar(
            x,
            y,
            yerr=np.maximum(errors, 0.0),
            color=f"C{index % 10}",
            marker="o",
            capsize=3,
            label=label,
        )
        for p, xi, yi in zip(pts, x, y, strict=True):
            axes.annotate(
                f"{p.actor_sparsity:g}/{p.critic_sparsity:g}",
                (xi, yi),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
            )
    if dense_score is not None:
        axes.axhline(dense_score, color="black", linestyle="--", linewidth=1, label="dense")
    axes.set_xlabel("critic sparsity" if use_critic else "actor sparsity")
    axes.set_ylabel("final score (IQM over seeds)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    return _png(figure)


def diagnostics_png(
    groups: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    panels: Sequence[tuple[str, str, Sequence[str]]],
    title: str,
) -> bytes:
    """A grid of diagnostic curves: one panel per (name, y title, columns), one colour per
    group (label, steps, column -> values); a panel's second column is drawn dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = (len(panels) + 1) // 2
    figure = Figure(figsize=(10.0, 3.2 * rows), dpi=110)
    FigureCanvasAgg(figure)
    for index, (_, ylabel, columns) in enumerate(panels):
        axes = figure.add_subplot(rows, 2, index + 1)
        for colour, (label, steps, values) in enumerate(groups):
            for style, column in zip(("-", "--"), columns, strict=False):
                if column in values:
                    axes.plot(
                        steps,
                        values[column],
                        linestyle=style,
                        color=f"C{colour % 10}",
                        label=label if style == "-" else None,
                    )
        axes.set_ylabel(ylabel, fontsize="small")
        axes.set_xlabel("environment steps", fontsize="small")
        axes.grid(alpha=0.3)
        axes.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        if index == 0:
            axes.legend(fontsize="x-small", loc="best")
    figure.suptitle(title)
    return _png(figure)


def profile_png(
    taus: np.ndarray,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    title: str,
) -> bytes:
    """Performance profiles: fraction of runs above τ against τ (% of dense), with bands."""
    figure, axes = _figure()
    for index, (label, (fraction, low, high)) in enumerate(curves.items()):
        color = f"C{index % 10}"
        axes.plot(taus, fraction, color=color, label=label)
        axes.fill_between(taus, low, high, color=color, alpha=0.15, linewidth=0)
    axes.axvline(100.0, color="black", linestyle=":", linewidth=1)
    axes.set_xlabel("τ (% of dense final score)")
    axes.set_ylabel("fraction of runs with score > τ")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    return _png(figure)
