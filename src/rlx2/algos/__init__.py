"""Algorithms: TD3 and SAC composed from the sparse engine and value learning (spec §1).

Each agent (``td3.py``, ``sac.py``) owns its networks, optimisers and one
``WeightUpdater`` per network (``rlx2.sparse``: dense, masked or CSR storage), and takes a
``Batch`` with its n-step target window from ``rlx2.value``; ``common.py`` holds what both
share (the ``WeightUpdater`` protocol, Polyak updates, compiled losses). ``fused.py``
and ``fused_kernels.py`` are the fused training steps of the sparse backend, checked equal to
the autograd path (tests/test_fused.py). Nothing here knows about environments, run
directories or the CLI.
"""
