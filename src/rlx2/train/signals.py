"""Stop a run cleanly on SIGTERM or SIGINT instead of dying mid-step.

Batch schedulers (preemption), ``timeout`` and ``kill`` send SIGTERM; Ctrl-C sends SIGINT.
While a ``StopSignals`` block is active either one only records that a stop was asked for;
the training loop checks ``requested`` between steps, where the whole training state is
consistent, saves a checkpoint and records ``interrupted``. A second signal stops at once
(``KeyboardInterrupt``): the way out when the clean stop takes too long.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager: SIGINT/SIGTERM set ``signum`` (the first one received) while active.

    Outside the main thread (a Ray worker thread, say) handlers cannot be installed and
    signals keep their usual effect; a signal the process ignores (SIG_IGN, as for background
    jobs of a non-interactive shell) stays ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # asked twice: stop now
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()
