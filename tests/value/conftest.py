"""Shared settings for the value-learning tests: one CPU thread (the machine is shared)."""

import torch

torch.set_num_threads(1)
