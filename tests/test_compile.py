"""``--compile``: torch.compile'd losses give the eager update's numbers (masked RigL, CPU).

Inductor draws its own random numbers unless ``fallback_random`` is set; with it, the
compiled target noise (TD3) and policy samples (SAC) are eager's, so losses and parameters
after several updates (one of them a topology update, one with n-step windows) must agree.
On CUDA the same compiled graphs replay as CUDA graphs (mode reduce-overhead); no GPU here.
"""

import dataclasses

import pytest
import torch
from helpers import assert_one_line_error, run_cli
from test_backend import SPEC, batches, make_config

from rlx2.config import RunConfig
from rlx2.sparse.kernels import LeanAdam
from rlx2.train.builders import build_agent, compile_mode, optimizer_for


def agent_pair(algo):
    agents = []
    for compiled in (False, True):
        torch.manual_seed(0)
        config = make_config(algo, "masked", topology_interval=2)
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, compile=compiled))
        agents.append(build_agent(config, SPEC)[0])
    return agents


@pytest.mark.slow  # torch.compile: a minute of compilation per algorithm
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_compiled_losses_reproduce_the_eager_update(algo):
    with torch._inductor.config.patch(fallback_random=True):
        check_compiled_against_eager(algo)


def check_compiled_against_eager(algo):
    eager, compiled = agent_pair(algo)
    assert compiled.compiled.mode == "default" and eager.compiled.mode is None
    # 1-step windows, then 3-step ones (a second specialised graph); update 2 evolves topology.
    plan = batches(2, nstep=1, seed=1) + batches(2, nstep=3, seed=2)
    for i, batch in enumerate(plan):
        results = []
        for agent in (eager, compiled):
            torch.manual_seed(100 + i)
            results.append(agent.update(batch))
        for key in results[0]:
            torch.testing.assert_close(results[1][key], results[0][key], rtol=1e-4, atol=1e-5)
    assert eager.critic_updater.topology_updates == 2
    assert compiled.critic_updater.topology_updates == 2
    for name, net in eager.networks().items():
        other = compiled.networks()[name]
        for p, q in zip(net.parameters(), other.parameters(), strict=True):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    for name, updater in eager.updaters().items():
        for m, n in zip(updater.masks.masks, compiled.updaters()[name].masks.masks, strict=True):
            assert torch.equal(m, n), name


def test_compile_mode_and_optimizer_follow_the_device():
    config = make_config("td3", "masked")
    assert compile_mode(config) is None
    on = dataclasses.replace(config, run=dataclasses.replace(config.run, compile=True))
    assert compile_mode(on) == "default"
    gpu = dataclasses.replace(on, run=dataclasses.replace(on.run, device="cuda"))
    assert compile_mode(gpu) == "reduce-overhead"
    assert optimizer_for("masked", "cuda").keywords == {"fused": True}
    # The CPU too (torch >= 2.4): one kernel per network instead of ~10 ops per tensor.
    assert optimizer_for("masked", "cpu").keywords == {"fused": True}
    assert optimizer_for("dense", "cuda").keywords == {"fused": True}
    # Dense on a CPU: LeanAdam (torch's fused Adam spends ~100 µs of Python per step there),
    # unless numba is missing.
    assert optimizer_for("dense", "cpu") is LeanAdam
    assert optimizer_for("sparse", "cpu") is LeanAdam


def test_dense_on_a_cpu_without_numba_keeps_torchs_fused_adam(monkeypatch):
    import rlx2.config

    monkeypatch.setattr(rlx2.config, "numba_available", lambda: False)
    assert optimizer_for("dense", "cpu").keywords == {"fused": True}


def test_fused_adam_has_adams_arithmetic():
    """The dense and masked backends' optimiser against torch's per-tensor Adam."""
    torch.manual_seed(0)
    params = [torch.randn(7, 5, requires_grad=True), torch.randn(5, requires_grad=True)]
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    opts = [torch.optim.Adam(params, lr=1e-2), optimizer_for("masked", "cpu")(twins, lr=1e-2)]
    for _ in range(5):
        for ps, opt in zip((params, twins), opts, strict=True):
            opt.zero_grad()
            sum((p**3).sum() for p in ps).backward()
            opt.step()
    for p, q in zip(params, twins, strict=True):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)


def test_auto_backend_with_compile_is_masked():
    config = make_config("td3", "auto")
    assert config.effective_backend() in ("sparse", "masked")
    on = dataclasses.replace(config, run=dataclasses.replace(config.run, compile=True))
    assert on.effective_backend() == "masked"


def test_compile_with_the_sparse_backend_is_a_clear_error(capsys):
    code, err = run_cli(
        ["train", "--env", "Pendulum-v1", "--method", "ss", "--actor-sparsity", "0.9",
         "--critic-sparsity", "0.9", "--backend", "sparse", "--compile"],
        capsys,
    )  # fmt: skip
    assert_one_line_error(code, err, "--compile")
    with pytest.raises(Exception, match="--compile"):
        RunConfig(backend="sparse", compile=True)
