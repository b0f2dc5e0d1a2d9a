"""train: one training run (loop, builders, run directory, evaluation, logging).

The package is also the function ``rlx2.train(env, **options)`` of the Python API
(``rlx2.api.train``, docs/api.md). Python binds ``rlx2.train`` to this package as soon as any
of its modules is imported, so a function of that name in ``rlx2/__init__.py`` would be
replaced by the first training run; the package is made callable instead (a documented
module feature: a module's ``__class__`` may be set to a ``ModuleType`` subclass).
"""

import sys
import types
from typing import Any


class _CallableTrainPackage(types.ModuleType):
    def __call__(self, env: str | None = None, **options: Any) -> Any:
        """Train one agent and return its Run: ``rlx2.api.train`` (docs/api.md)."""
        from rlx2.api import train

        return train(env, **options)


sys.modules[__name__].__class__ = _CallableTrainPackage
