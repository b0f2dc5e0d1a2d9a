"""rlx2: sparse deep reinforcement learning from scratch (RLx2, ICLR 2023).

``import rlx2`` imports no torch, so ``rlx2.deploy`` runs where only NumPy is installed.
The Python API (docs/api.md) is loaded on first use: ``rlx2.train(env, **options)``,
``rlx2.load(run_dir)``, ``rlx2.resume(run_dir)``, ``rlx2.Run``, ``rlx2.Evaluations``.
"""

__version__ = "0.1.0"

_API = ("Evaluations", "Run", "load", "resume")


def __getattr__(name: str):
    # Lazy (PEP 562), and by name: modules that import rlx2 for __version__ (the NumPy-only
    # deploy path) must not depend on the API, which reaches torch when it trains or loads.
    # `rlx2.train` is the (callable) subpackage rlx2/train.
    import importlib

    if name in _API:
        return getattr(importlib.import_module("rlx2.api"), name)
    if name == "train":
        return importlib.import_module("rlx2.train")
    raise AttributeError(f"module 'rlx2' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "train"])
