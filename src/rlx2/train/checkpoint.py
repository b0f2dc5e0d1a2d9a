"""Reading checkpoints without running code from them (issue 11 item 8).

A checkpoint is a ``torch.save`` pickle. A full unpickler calls whatever a file names, so a
run directory received from someone else could run arbitrary code on ``rlx2 export`` or
``--resume``. ``load_checkpoint`` uses torch's restricted unpickler (``weights_only=True``):
tensors, plain containers and numbers, plus the NumPy pieces our checkpoints really hold
(``np.random.get_state()`` is a tuple holding a uint32 array), allow-listed for that one call
and nowhere else in the process. Any other global is refused before it is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlx2.errors import ConfigError


class UnsafeCheckpoint(ConfigError):
    """A checkpoint that names something a checkpoint never holds: refused, nothing was run."""


def _safe_numpy_globals() -> list[Any]:
    """What a NumPy array (and its dtype) needs to unpickle, nothing that can call code.

    Files pickled under NumPy 1.x name ``numpy.core.multiarray._reconstruct``; NumPy 2 moved it
    to ``numpy._core``: both names are allowed, so checkpoints from either load.
    """
    reconstruct = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    return [
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype(np.uint32)),  # numpy.dtypes.UInt32DType: the MT19937 key
    ]


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``Trainer.save_checkpoint`` without executing code.

    :raises UnsafeCheckpoint: the file names a callable outside the allow-list (a malicious
        or foreign pickle); nothing in it was run.
    :raises Exception: whatever torch raises for a missing, truncated or corrupt file.
    """
    import pickle

    try:
        with torch.serialization.safe_globals(_safe_numpy_globals()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is a page of advice on weights_only=False, which is exactly what
        # must not be done with a file of unknown origin: keep its diagnosis only.
        text = str(exc)
        marker = "WeightsUnpickler error:"
        if marker not in text:
            raise  # not the restricted unpickler's refusal
        reason = " ".join(text.split(marker, 1)[1].split("\n\n")[:2]).strip() or "unreadable"
        if "Unsupported global" not in reason:  # an opcode it does not know: a corrupt file
            raise pickle.UnpicklingError(reason) from None
        name = reason.split("GLOBAL ", 1)[-1].split(" was not", 1)[0]
        raise UnsafeCheckpoint(
            f"{Path(path).name}: refused to load it: it names {name}, which no rlx2 checkpoint "
            "holds, and loading it could run code; use checkpoints from a source you trust"
        ) from None
    if not isinstance(state, dict):
        raise ConfigError(f"{Path(path).name} is not an rlx2 checkpoint")
    return state


__all__ = ["UnsafeCheckpoint", "load_checkpoint"]
