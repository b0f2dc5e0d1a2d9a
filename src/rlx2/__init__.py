"""rlx2: sparse deep reinforcement learning from scratch (RLx2, ICLR 2023).

``import rlx2`` imports no torch, so ``rlx2.deploy`` runs where only NumPy is installed.
"""

__version__ = "0.1.0"
