"""Same inputs, same bits, whether numba's on-disk cache is cold or warm.

A backward loaded from the cache once summed the bias gradients in another order than the
same backward compiled in-process, so a seeded run returned different results on its first
and second invocation (a RigL learning test failed only in fresh CI clones). Each script
below runs in its own process against one private NUMBA_CACHE_DIR: the first compiles and
writes the cache, the second loads it; every output must be bit-identical.
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # subprocesses that compile numba kernels from a cold cache

SCRIPT = """
import hashlib
import torch
from torch import nn
from rlx2.sparse.kernels import LeanAdam, SparseMLP

torch.manual_seed(0)
torch.set_num_threads(1)


def head():
    return nn.Sequential(nn.Linear(5, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))


heads = [head(), head()]
masks = [torch.rand_like(l.weight) < 0.1 for h in heads for l in h if isinstance(l, nn.Linear)]
net = SparseMLP.from_dense(heads, masks)
opt = LeanAdam(net.parameters(), lr=3e-4)
x, a = torch.randn(256, 3), torch.randn(256, 2, requires_grad=True)
digest = hashlib.sha256()
for _ in range(3):
    y = net(x, a)
    opt.zero_grad()
    a.grad = None
    (y**2).mean().backward()
    opt.step()
    for t in (y, a.grad, *(p.grad for p in net.parameters()), *net.parameters()):
        digest.update(t.detach().numpy().tobytes())

# The fused training steps (rlx2.algos.fused_kernels are cached too): TD3 and SAC updates
# with 3-step windows and RigL topology updates.
import numpy as np
from rlx2.config import AgentConfig, RunConfig, SparseConfig, TrainConfig
from rlx2.train.builders import build_agent
from rlx2.train.envs import EnvSpec
from rlx2.value.replay import ReplayBuffer

spec = EnvSpec("toy", 5, 2, -np.ones(2, np.float32), np.ones(2, np.float32), None)
rng = np.random.default_rng(0)
buffer = ReplayBuffer(5, 2, capacity=200, seed=0)
for _ in range(200):
    buffer.add(rng.normal(size=5), rng.uniform(-1, 1, 2), rng.normal(), rng.normal(size=5),
               rng.random() < 0.1, rng.random() < 0.05, np.zeros(2))
for algo in ("td3", "sac"):
    config = TrainConfig(
        env="toy", algo=algo,
        run=RunConfig(total_steps=5_000, learning_starts=256, backend="sparse"),
        agent=AgentConfig(hidden=32, batch_size=64),
        sparse=SparseConfig(method="rigl", actor_sparsity=0.8, critic_sparsity=0.8,
                            topology_interval=2),
    )
    torch.manual_seed(0)
    agent = build_agent(config, spec)[0]
    for i in range(5):
        metrics = agent.update(buffer.sample(64, 3))
        for value in metrics.values():
            digest.update(value.detach().numpy().tobytes())
    for network in agent.networks().values():
        for t in network.parameters():
            digest.update(t.detach().numpy().tobytes())
print(digest.hexdigest())
"""


def test_results_do_not_depend_on_the_numba_cache_state(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    cold = run()
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "the first run wrote no cache"
    warm = run()
    assert cold == warm
