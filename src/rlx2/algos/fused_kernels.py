"""Numba kernels of the fused training steps (``rlx2.algos.fused``): the RL arithmetic between
the network passes, on NumPy arrays.

Each kernel computes what a named piece of the torch reference computes, element for element
(the reference is the definition; tests/test_fused.py ties every kernel and whole updates to
it): ``window_end_index`` and ``select_at`` (``rlx2.value.targets``), ``n_step_target``,
TD3's target policy smoothing and losses (``TD3.bootstrap_value``, ``critic_loss``,
``actor_loss``), SAC's squashed Gaussian (``rlx2.nets.GaussianActor.sample`` and
``squashed_gaussian_log_prob``) and its losses, plus the gradients autograd would take of them.

Not ``fastmath``: these loops touch a few thousand numbers (~1 µs), so IEEE semantics (NaN
propagates into the loss, where the training loop catches it) cost nothing. Imported only
by ``rlx2.algos.fused``, so importing ``rlx2.algos`` needs no numba.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlx2.jit import njit  # numba, compiling for the chosen CPU target

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
# Helpers are inlined: a cached kernel that calls a separately compiled function can link it
# differently from an in-process compilation (docs/sparse-execution.md: the cached backward).
_INLINE: dict[str, Any] = {**_JIT, "inline": "always"}

_LOG2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ---------------------------------------------------------------- n-step windows


@njit(**_JIT)
def window_ends(terminated, truncated, ends):  # pragma: no cover - compiled
    """``window_end_index``: [B, n] flags -> ends [B] (int64), the first k with either flag
    set, n - 1 if none."""
    batch, n = terminated.shape
    for b in range(batch):
        m = n - 1
        for k in range(n):
            if terminated[b, k] != 0 or truncated[b, k] != 0:
                m = k
                break
        ends[b] = m


@njit(**_JIT)
def gather_windows(x, ends, out):  # pragma: no cover - compiled
    """``select_at``: x [B, n, D], ends [B] -> out [B, D] = x[b, ends[b]]."""
    for b in range(x.shape[0]):
        m = ends[b]
        for d in range(x.shape[2]):
            out[b, d] = x[b, m, d]


@njit(**_INLINE)
def _twin_mse_row(q, b, y, scale, grad_q):  # pragma: no cover - compiled
    """Row b of both heads' MSE against target y: writes d loss / d q [b] (scale = 2 / B) and
    returns the two squared errors (TD3's and SAC's critic losses share it)."""
    d1 = q[b, 0] - y
    d2 = q[b, 1] - y
    grad_q[b, 0] = scale * d1
    grad_q[b, 1] = scale * d2
    return d1 * d1, d2 * d2


@njit(**_INLINE)
def _n_step(rewards, terminated, m, value, gamma):  # pragma: no cover - compiled
    """``n_step_target`` of one window (rewards, terminated [n]) ending at m, given
    V(s_{t+m+1}): sum_{k<=m} gamma^k r_k, plus gamma^{m+1} V unless transition m terminated
    (float32 discounts and sums, as the reference)."""
    g = rewards.dtype.type(gamma)
    total = rewards.dtype.type(0)
    discount = rewards.dtype.type(1)
    for k in range(m + 1):
        total += rewards[k] * discount
        discount = discount * g
    if terminated[m] == 0:
        total += discount * value
    return total


# ---------------------------------------------------------------- TD3


@njit(**_JIT)
def smooth_target_actions(actions, noise, noise_std, noise_clip, low, high):  # pragma: no cover
    """TD3's target policy smoothing, in place: actions [B, A] <- clip(actions +
    clamp(noise * noise_std, -noise_clip, noise_clip), low, high) (``TD3.bootstrap_value``)."""
    for b in range(actions.shape[0]):
        for j in range(actions.shape[1]):
            eps = noise[b, j] * noise_std[j]
            eps = max(min(eps, noise_clip[j]), -noise_clip[j])
            a = actions[b, j] + eps
            actions[b, j] = max(min(a, high[j]), low[j])


@njit(**_JIT)
def twin_td_loss(
    rewards, terminated, ends, q_target, gamma, q, targets, grad_q
):  # pragma: no cover - compiled
    """TD3's ``critic_loss`` and its gradient.

    targets [B] <- n-step targets bootstrapped with min(q_target[:, 0], q_target[:, 1]);
    grad_q [B, 2] <- d loss / d q for loss = mean((q1 - y)^2) + mean((q2 - y)^2).
    Returns (loss, mean q1, mean target).
    """
    batch = q.shape[0]
    scale = q.dtype.type(2.0 / batch)
    loss1 = loss2 = q1_sum = y_sum = 0.0
    for b in range(batch):
        value = min(q_target[b, 0], q_target[b, 1])
        y = _n_step(rewards[b], terminated[b], ends[b], value, gamma)
        targets[b] = y
        e1, e2 = _twin_mse_row(q, b, y, scale, grad_q)
        loss1 += e1
        loss2 += e2
        q1_sum += q[b, 0]
        y_sum += y
    return loss1 / batch + loss2 / batch, q1_sum / batch, y_sum / batch


# ---------------------------------------------------------------- SAC


@njit(**_INLINE)
def _tanh_parts(x):  # pragma: no cover - compiled
    """(tanh x, exp(-2|x|)) in double precision from one ``exp``: glibc's ``tanhf`` is several
    times slower, and exp(-2|x|) also gives softplus(-2x) and its derivative below."""
    e = math.exp(-2.0 * abs(x))
    return math.copysign((1.0 - e) / (1.0 + e), x), e


@njit(**_JIT)
def squashed_gaussian_sample(
    z, eps, log_std_min, log_std_max, scale, bias, actions, log_prob, pre_tanh, log_std
):  # pragma: no cover - compiled
    """``GaussianActor.sample`` from the network output z [N, 2A] (mean, raw log sigma) and
    standard normal eps [N, A]: actions [N, A], log_prob [N]; keeps pre_tanh and log_std
    [N, A] for :func:`squashed_gaussian_backward`.

    torch's softplus(-2u) (threshold 20) is max(-2u, 0) + log1p(exp(-2|u|)): the same number
    (past the threshold the log1p term is below 2e-9) from the exp that tanh(u) already took.
    """
    n_act = eps.shape[1]
    half_range = 0.5 * (log_std_max - log_std_min)
    dtype = z.dtype.type
    log_scale = np.log(scale.astype(np.float64))
    for i in range(z.shape[0]):
        total = 0.0
        for j in range(n_act):
            mean = z[i, j]
            r, _ = _tanh_parts(float(z[i, n_act + j]))
            ls = dtype(log_std_min + half_range * (r + 1.0))
            std = dtype(math.exp(ls))
            u = mean + std * eps[i, j]
            pre_tanh[i, j] = u
            log_std[i, j] = ls
            t, e = _tanh_parts(float(u))
            actions[i, j] = t * scale[j] + bias[j]
            w = (u - mean) / std
            gaussian = -0.5 * w * w - ls - _LOG_SQRT_2PI
            softplus = max(-2.0 * u, 0.0) + math.log1p(e)
            total += gaussian - (2.0 * (_LOG2 - u - softplus) + log_scale[j])
        log_prob[i] = total


@njit(**_JIT)
def squashed_gaussian_backward(
    grad_actions, grad_log_prob, eps, pre_tanh, log_std, z, log_std_min, log_std_max, scale, grad_z
):  # pragma: no cover - compiled
    """Gradient of a loss through :func:`squashed_gaussian_sample` to z [N, 2A].

    grad_actions [N, A] = d loss / d actions; grad_log_prob (a scalar) = d loss / d log_prob_i,
    the same for every i (SAC's actor loss: alpha / N). With u = mean + std eps:
    d log_prob / d u = 2 - 4 sigmoid(-2u) (torch's softplus derivative, 1 past its threshold),
    and the Gaussian term depends on (u - mean) / std = eps only, so its gradients through u
    and directly cancel; log_prob also holds -log_std. log_std = min + half (tanh(raw) + 1).
    """
    n_act = eps.shape[1]
    half_range = 0.5 * (log_std_max - log_std_min)
    for i in range(z.shape[0]):
        for j in range(n_act):
            u = float(pre_tanh[i, j])
            t, e = _tanh_parts(u)
            sig = e / (1.0 + e) if u >= 0.0 else 1.0 / (1.0 + e)  # sigmoid(-2u)
            grad_u = grad_actions[i, j] * scale[j] * (1.0 - t * t) + grad_log_prob * (
                2.0 - 4.0 * sig
            )
            grad_ls = grad_u * math.exp(float(log_std[i, j])) * eps[i, j] - grad_log_prob
            r, _ = _tanh_parts(float(z[i, n_act + j]))
            grad_z[i, j] = grad_u
            grad_z[i, n_act + j] = grad_ls * half_range * (1.0 - r * r)


@njit(**_JIT)
def soft_twin_td_loss(
    rewards, terminated, ends, log_prob, q_target, alpha, gamma, q, targets, grad_q
):  # pragma: no cover - compiled
    """SAC's ``critic_loss`` and its gradient (``SAC.td_target``'s soft n-step target).

    log_prob [B, n] of the actions sampled at every next state; q_target [B, 2] the twin
    target Qs at the last one. Rewards before the window end get -gamma alpha log pi of the
    next state, the end is bootstrapped with min Q - alpha log pi. Fills targets [B] and
    grad_q [B, 2]; returns (loss, mean q1, mean target).
    """
    batch = q.shape[0]
    dtype = q.dtype.type
    scale = dtype(2.0 / batch)
    a = dtype(alpha)
    ga = dtype(gamma) * a
    shifted = np.empty(rewards.shape[1], dtype=rewards.dtype)
    loss1 = loss2 = q1_sum = y_sum = 0.0
    for b in range(batch):
        m = ends[b]
        for k in range(rewards.shape[1]):
            shifted[k] = rewards[b, k] - ga * log_prob[b, k] if k < m else rewards[b, k]
        soft_value = min(q_target[b, 0], q_target[b, 1]) - a * log_prob[b, m]
        y = _n_step(shifted, terminated[b], m, soft_value, gamma)
        targets[b] = y
        e1, e2 = _twin_mse_row(q, b, y, scale, grad_q)
        loss1 += e1
        loss2 += e2
        q1_sum += q[b, 0]
        y_sum += y
    return loss1 / batch + loss2 / batch, q1_sum / batch, y_sum / batch


@njit(**_JIT)
def sac_actor_loss(q, log_prob, alpha, grad_q):  # pragma: no cover - compiled
    """SAC's ``actor_loss`` mean(alpha log_prob - min(q1, q2)) and d loss / d q [B, 2]
    (torch.minimum's gradient: all to the smaller head, half each on a tie)."""
    batch = q.shape[0]
    dtype = q.dtype.type
    g = dtype(-1.0 / batch)
    a = dtype(alpha)
    total = 0.0
    for b in range(batch):
        q1, q2 = q[b, 0], q[b, 1]
        total += a * log_prob[b] - min(q1, q2)
        if q1 < q2:
            grad_q[b, 0], grad_q[b, 1] = g, dtype(0)
        elif q2 < q1:
            grad_q[b, 0], grad_q[b, 1] = dtype(0), g
        else:
            grad_q[b, 0] = grad_q[b, 1] = dtype(0.5) * g
    return total / batch


# ---------------------------------------------------------------- dense networks (fused_dense)


@njit(**_JIT)
def relu_backward(grad, act):  # pragma: no cover - compiled
    """ReLU's backward in place (autograd's ``threshold_backward``): grad = 0 where the
    layer's output ``act`` is <= 0 (a NaN output keeps its gradient). Contiguous arrays of
    one shape."""
    g, a = grad.reshape(-1), act.reshape(-1)
    for i in range(g.size):
        g[i] = 0.0 if a[i] <= 0 else g[i]


# ---------------------------------------------------------------- Polyak averaging


# Fused multiply-adds allowed ("contract"), as torch's vectorised lerp uses them: bit for bit.
@njit(**{**_JIT, "fastmath": {"contract"}})
def polyak_lerp(target, online, weight):  # pragma: no cover - compiled
    """``torch.lerp_(target, online, weight)`` in place on 1-D arrays, with torch's CPU
    formula in the arrays' precision: ``t + w (o - t)`` for w < 0.5, ``o - (o - t)(1 - w)``
    otherwise."""
    w = target.dtype.type(weight)
    if weight < 0.5:
        for i in range(target.shape[0]):
            target[i] = target[i] + w * (online[i] - target[i])
    else:
        rest = target.dtype.type(1) - w
        for i in range(target.shape[0]):
            target[i] = online[i] - (online[i] - target[i]) * rest
