"""Deployment: exported actors run with NumPy only.

``rlx2 export`` (``rlx2.deploy.export``, needs torch) writes a run's final actor as a
safetensors policy file; ``load_policy(FILE)`` reads it back as a :class:`NumpyPolicy`
(obs -> action) without torch. Format and sizes: docs/deploy.md.
"""

from rlx2.deploy.numpy_policy import NumpyPolicy, PolicyFileError, load_policy

__all__ = ["NumpyPolicy", "PolicyFileError", "load_policy"]
