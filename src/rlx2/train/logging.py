"""Progress display and TensorBoard scalars.

On a terminal (and without --quiet) a rich progress bar shows steps, steps/s, the latest
evaluation and the ETA; otherwise plain log lines are printed at every evaluation so that
logs of batch jobs stay readable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressReporter:
    """Reports training progress: a live bar on a terminal, or one line per evaluation."""

    REFRESH_STEPS = 200  # updating the bar costs ~50 µs; doing it every step would show in steps/s

    def __init__(self, total_steps: int, start_step: int, quiet: bool, label: str, stream=None):
        self.total_steps = total_steps
        self.start_step = start_step
        self.label = label
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self.live = self.console.is_terminal and not quiet
        self.started = time.perf_counter()
        self.latest_eval = "—"
        self._last_eval = (
            start_step,
            self.started,
        )  # ETA from the recent rate: warm-up steps are much faster
        self._bar: Progress | None = None
        self._task: Any = None  # rich's TaskID once the bar is shown

    def __enter__(self) -> ProgressReporter:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} steps/s"),
                TextColumn("eval {task.fields[latest]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.label,
                total=self.total_steps,
                completed=self.start_step,
                rate="—",
                latest=self.latest_eval,
            )
        else:
            self._line(f"start at step {self.start_step}/{self.total_steps}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def steps_per_second(self, step: int) -> float:
        elapsed = time.perf_counter() - self.started
        return (step - self.start_step) / elapsed if elapsed > 0 else 0.0

    def step(self, step: int) -> None:
        if self._bar is not None and step % self.REFRESH_STEPS == 0:
            self._bar.update(self._task, completed=step, rate=f"{self.steps_per_second(step):.0f}")

    def evaluation(self, step: int, return_mean: float, return_std: float) -> None:
        self.latest_eval = f"{return_mean:.1f} ± {return_std:.1f}"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, latest=self.latest_eval)
            return
        rate = self.steps_per_second(step)
        now = time.perf_counter()
        last_step, last_time = self._last_eval
        recent = (step - last_step) / (now - last_time) if now > last_time else rate
        self._last_eval = (step, now)
        eta = (self.total_steps - step) / recent if recent > 0 else float("nan")
        self._line(
            f"step {step}/{self.total_steps} ({100.0 * step / self.total_steps:.1f}%) | {rate:.0f} steps/s "
            f"| eval return {self.latest_eval} | ETA {format_duration(eta) if eta == eta else '?'}"
        )

    def message(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        print(f"[{self.label}] {text}", file=self.stream, flush=True)


class ScalarLogger:
    """TensorBoard event files under <run_dir>/tb (torch's SummaryWriter, imported lazily)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def scalars(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        for name, value in values.items():
            self.writer.add_scalar(prefix + name, float(value), step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
