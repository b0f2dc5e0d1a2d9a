"""Shared test setup: one torch thread (small MLPs are fastest so, and 2-core CI stays fair)."""

import os

import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield
