"""What a sparse update's time is made of: the update with parts taken away, in one process.

For each (algo, task) at the paper's sparsities, agents built as ``rlx2 train`` builds them
(sparse backend, fused steps, same seed) take turns within every repeat, each with one part
of ``agent.update(batch)`` removed:

* ``full``: the update as it runs;
* ``no_adam``: LeanAdam's steps do nothing (the topology bookkeeping still runs);
* ``no_polyak``: no Polyak averaging of the targets;
* ``losses_only``: only the fused losses and gradients (``critic_backward``, and
  ``actor_backward`` when the update steps the actor): no optimiser, Polyak, topology
  bookkeeping or metrics;
* TD3 only, ``critic_one_call`` and ``losses_only_one_call``: the same with TD3's whole fused
  critic step run as one numba call (:func:`critic_step_one_call`, a prototype that calls the
  same kernels in the same order with no Python between them; checked equal to
  ``FusedTD3.critic_backward`` before timing).

A variant's share of ``full`` says what the removed part costs, and the ratio to dense that
the update would reach without it: ``speed.py``'s ratio divided by the share. Timing as in
``speed.py`` (``rlx2.bench.interleaved_times``: medians over repeats of the mean per call,
wall clock and the thread's CPU time). The agents stop learning (no optimiser steps): only
their speed is measured.

    taskset -c 1 python benchmarks/update_parts.py [--cases td3:Hopper-v5 sac:Hopper-v5
        td3:HalfCheetah-v5] [--repeats 30] [--updates 40] [--output FILE]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse_cases, run_cases  # noqa: E402

from rlx2.bench import (  # noqa: E402
    BenchConfig,
    bench_agent,
    cpu_model,
    interleaved_times,
    random_batches,
    task_spec,
)

CASES = ("td3:Hopper-v5", "sac:Hopper-v5", "td3:HalfCheetah-v5")


# ---------------------------------------------------------------- the one-call prototype
def _critic_step_kernel():
    """The compiled TD3 critic step (compiled on first use, not cached: it calls the
    backward, which is never cached, see rlx2.sparse.kernels.ops)."""
    from rlx2.algos import fused_kernels as K
    from rlx2.jit import njit
    from rlx2.sparse.kernels.mlp import kernels

    ops = kernels()
    forward, backward = ops.forward, ops.backward
    window_ends, gather_windows = K.window_ends, K.gather_windows
    smooth, twin_td_loss = K.smooth_target_actions, K.twin_td_loss

    @njit(cache=False, nogil=True, error_model="numpy")
    def step(
        terminated, truncated, next_obs, obs, actions, rewards, noise, gamma,
        noise_std, noise_clip, low, high,
        ends, states, target_actions, q, q_target, targets, grad_q, empty, flat, act,
        grad_values, grad_bias, dummy,
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a_rows,
        t0, t1, t2, t3, t4, t5, t6, t7, t8, t_rows,
        c0, c1, c2, c3, c4, c5, c6, c7, c8, c_rows, c_consumer_ptr, c_consumer_rows,
        c_consumer_slots, c_n1, c_in,
    ):  # pragma: no cover - compiled  # fmt: skip
        batch = obs.shape[0]
        window_ends(terminated, truncated, ends)
        gather_windows(next_obs, ends, states)
        scratch = flat[: a_rows[1] * batch].reshape(a_rows[1], batch)
        forward(states, empty, a0, a1, a2, a3, a4, a5, a6, a7, a8, a_rows[0], scratch, target_actions)  # fmt: skip
        smooth(target_actions, noise, noise_std, noise_clip, low, high)
        scratch = flat[: t_rows[1] * batch].reshape(t_rows[1], batch)
        forward(states, target_actions, t0, t1, t2, t3, t4, t5, t6, t7, t8, t_rows[0], scratch, q_target)  # fmt: skip
        forward(obs, actions, c0, c1, c2, c3, c4, c5, c6, c7, c8, c_rows[0], act, q)
        loss, q1_mean, target_mean = twin_td_loss(
            rewards, terminated, ends, q_target, gamma, q, targets, grad_q
        )
        work = flat[: c_rows[1] * batch].reshape(c_rows[1], batch)
        backward(
            grad_q, act, c0, c1, c_consumer_ptr, c_consumer_rows, c_consumer_slots, c2, c4, c5,
            c6, c7, c_n1, c_in, c_rows[0], True, False, 0, False, work, grad_values, grad_bias, dummy,
            dummy,
        )  # fmt: skip
        return loss, q1_mean, target_mean

    return step


def _network_arrays(network) -> tuple:
    core = network.core
    values, bias, scale, shift = core.numpy_parameters()
    row_ptr, sources = core._forward_index
    activation, output_column, output_rows = core._row_info
    rows = np.array([core.layout.num_rows, network.act_rows], dtype=np.int64)
    return (row_ptr, sources, values, bias, activation, output_column, output_rows, scale, shift, rows)  # fmt: skip


def critic_step_one_call(fused, kernel, batch):
    """``FusedTD3.critic_backward`` (sparse networks, no dense-gradient request) as one call
    of ``kernel``: the same kernels, buffers and random draw."""
    from rlx2.algos.fused import _array, _scalar

    f, work = fused.dtype, fused.work
    batch_size, n = batch.rewards.shape
    buf = fused._for(batch_size, n)
    noise = torch.randn(batch_size, fused.act_dim).numpy()
    act = work.activations(fused.critic, batch_size)
    rows = max(fused.actor_target.act_rows, fused.critic_target.act_rows, fused.critic.act_rows)
    flat = work.scratch(rows, batch_size).reshape(-1)
    critic = fused.critic
    layout = critic.core.layout
    loss, q1_mean, target_mean = kernel(
        _array(batch.terminated, f), _array(batch.truncated, f), _array(batch.next_obs, f),
        _array(batch.obs, f), _array(batch.actions, f), _array(batch.rewards, f), noise,
        fused.agent.agent.gamma, fused.noise_std, fused.noise_clip, fused.low, fused.high,
        buf.ends, buf.states, buf.actions, buf.q, buf.q_target, buf.targets, buf.grad_q,
        buf.empty, flat, act, critic._grad_values.numpy(), critic._grad_bias.numpy(),
        np.empty((1, 1), dtype=f),
        *_network_arrays(fused.actor_target), *_network_arrays(fused.critic_target),
        *_network_arrays(critic), layout.consumer_ptr, layout.consumer_rows,
        layout.consumer_slots, critic.core.in_features, layout.in_features,
    )  # fmt: skip
    critic.core.values.grad = critic._grad_values
    critic.core.bias.grad = critic._grad_bias
    return _scalar(loss), _scalar(q1_mean), _scalar(target_mean)


def check_one_call(agent, kernel, batch) -> None:
    """The prototype computes what ``FusedTD3.critic_backward`` computes (same draw)."""
    results = []
    for one_call in (False, True):
        torch.manual_seed(0)
        metrics = (
            critic_step_one_call(agent.fused, kernel, batch)
            if one_call
            else agent.fused.critic_backward(batch)
        )
        grads = agent.fused.critic._grad_values.clone(), agent.fused.critic._grad_bias.clone()
        results.append(([float(m) for m in metrics], grads))
    (m1, g1), (m2, g2) = results
    assert m1 == m2 and all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True)), (m1, m2)


# ---------------------------------------------------------------- variants
def _no_adam(agent) -> None:
    def step(self, closure=None):
        return None

    for optimizer in (agent.actor_opt, agent.critic_opt):
        optimizer.step = types.MethodType(step, optimizer)


def _no_polyak(agent) -> None:
    if hasattr(agent, "target_averagers"):
        agent.target_averagers = ()
    else:
        agent.target_averager = lambda tau: None


def _losses_only(agent) -> None:
    steps_actor = getattr(agent.config, "policy_delay", 1)

    def update(batch):
        agent.updates += 1
        agent.critic_backward(batch)
        if agent.updates % steps_actor == 0:
            agent.actor_backward(batch.obs)
        return {}

    agent.update = update


def _one_call(agent, kernel) -> None:
    agent.critic_backward = lambda batch: critic_step_one_call(agent.fused, kernel, batch)


def variants(algo: str, kernel) -> dict:
    found = {"full": [], "no_adam": [_no_adam], "no_polyak": [_no_polyak]}
    found["losses_only"] = [_losses_only]
    if algo == "td3":
        one_call = lambda a: _one_call(a, kernel)  # noqa: E731
        found["critic_one_call"] = [one_call]
        found["losses_only_one_call"] = [one_call, _losses_only]
    return found


def measure_case(algo: str, env: str, args) -> dict:
    config = BenchConfig(algo=algo, env=env, preset="paper", nstep=1, seed=0)
    spec = task_spec(config)
    batches = random_batches(config, spec)
    kernel = _critic_step_kernel() if algo == "td3" else None
    agents = {}
    for name, changes in variants(algo, kernel).items():
        torch.manual_seed(0)
        agent = bench_agent(config, spec, "sparse")
        if kernel is not None and not agents:
            check_one_call(agent, kernel, batches[0])
        for change in changes:
            change(agent)
        agents[name] = agent
    cycles = {name: itertools.cycle(batches) for name in agents}
    fns = {name: (lambda a=a, c=cycles[name]: a.update(next(c))) for name, a in agents.items()}
    for fn in fns.values():  # warm-up: compilation, buffers
        for _ in range(30):
            fn()
    times = interleaved_times(fns, args.repeats, args.updates)
    full = times["full"]["cpu"]
    return {
        "benchmark": "update_parts",
        "algo": algo,
        "env": env,
        "update_us": {k: round(v["wall"] * 1e6, 1) for k, v in times.items()},
        "update_cpu_us": {k: round(v["cpu"] * 1e6, 1) for k, v in times.items()},
        "share_of_full_cpu": {k: round(v["cpu"] / full, 4) for k, v in times.items()},
        "repeats": args.repeats,
        "updates_per_repeat": args.updates,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="algo:env pairs")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--output", type=Path, help="also write the results here (a new file)")
    args = parser.parse_args()
    cases = parse_cases(parser, args.cases, args.output)
    torch.set_num_threads(1)
    run_cases("update_parts", cases, lambda algo, env: measure_case(algo, env, args), args.output)


if __name__ == "__main__":
    main()
