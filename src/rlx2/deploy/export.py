"""``rlx2 export RUN_DIR --out FILE``: a run's final actor as a compact policy file.

The agent is rebuilt from the run's config.json and loaded from ``checkpoints/final.pt``
(so the export does not depend on how a backend stores its networks), then every actor
layer is read as (dense weight, mask, bias) by :func:`actor_layers` and written to
safetensors: per layer a CSR matrix of the active weights (default) or the dense matrix
(``--dense``, for size comparisons), plus the action scaling and a metadata map. The format
is specified in docs/deploy.md; ``rlx2.deploy.load_policy`` runs it with NumPy only.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro
from safetensors.numpy import save
from torch import nn

import rlx2
from rlx2.config import config_from_dict
from rlx2.deploy.numpy_policy import FORMAT, FORMAT_VERSION
from rlx2.errors import ConfigError, RunDirError, os_error_text
from rlx2.train import rundir
from rlx2.train.builders import build_agent
from rlx2.train.envs import EnvSpec, check_env

FINAL_CHECKPOINT = "final.pt"

Layer = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(weight [out, in] float32 with zeros at inactive positions, mask [out, in] bool, bias [out] float32)."""


@dataclass(frozen=True)
class ExportConfig:
    """``rlx2 export``: write a finished run's final actor as a policy file for NumPy-only use."""

    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]
    """A completed run directory (it holds checkpoints/final.pt)."""
    out: str
    """The policy file to write (safetensors; conventionally *.safetensors)."""
    dense: bool = False
    """Store every weight densely instead of the active ones in CSR form (for size comparisons)."""
    overwrite: bool = False
    """Replace --out if it exists."""

    def __post_init__(self) -> None:
        if not self.out:
            raise ConfigError("--out must name a file")


@dataclass(frozen=True)
class ExportResult:
    """What was written, with the sizes the issue asks to compare (bytes)."""

    path: Path
    storage: str
    file_bytes: int
    csr_file_bytes: int
    dense_file_bytes: int
    torch_state_dict_bytes: int
    """``torch.save(actor.state_dict())`` of the same actor, stored as the run's backend stores it."""
    num_active: int
    num_weights: int
    metadata: dict[str, str]


# ------------------------------------------------------------------- the extension point


def actor_layers(actor: nn.Module, masks: list[torch.Tensor] | None = None) -> list[Layer]:
    """Every weight layer of ``actor``'s MLP in forward order: (weight, mask, bias) as NumPy.

    This is the one place that knows how an actor stores its weights: a new network type
    gets a branch here and the rest of the export is unchanged. The MLP (``actor.net``) must
    be ``[Linear, ReLU]* -> Linear``; the tanh head and action scaling are read by
    :func:`action_scaling`. Two storages are read today:

    - ``nn.Sequential`` of ``nn.Linear`` (dense and masked backends);
    - one-head ``SparseMLP`` (sparse backend, ``rlx2.sparse.kernels``), through its
      ``dense_weights()``, ``masks()`` and ``bias`` [rows, layer by layer]; duck-typed, so
      this module needs no numba.

    :param actor: a ``DeterministicActor`` or ``GaussianActor`` (or a sparse-backend twin).
    :param masks: the actor updater's masks (``updater.masks.masks``), one bool [out, in] per
        layer; without them the non-zero weights are the active ones. A weight is stored when
        its mask is set (a regrown weight may be exactly 0 yet active) or when it is non-zero
        (so the exported policy always computes what the torch actor computes).
    """
    net = getattr(actor, "net", None)
    if callable(getattr(net, "dense_weights", None)) and callable(getattr(net, "masks", None)):
        weights = net.dense_weights()
        own_masks = net.masks()  # a SparseMLP knows its masks: they win over ``masks``
        biases = net.bias.detach().split([w.shape[0] for w in weights])
        triples = list(zip(weights, biases, own_masks, strict=True))
        masks = None
    elif isinstance(net, nn.Sequential) and all(isinstance(m, nn.Linear | nn.ReLU) for m in net):
        linears = [m for m in net if isinstance(m, nn.Linear)]
        triples = [(m.weight.detach(), m.bias.detach(), None) for m in linears]
    else:
        raise ConfigError(
            f"cannot export an actor whose network is {type(net).__name__}: "
            "rlx2.deploy.export.actor_layers reads [Linear, ReLU]* -> Linear MLPs and SparseMLP"
        )
    if masks is not None and len(masks) != len(triples):
        raise ConfigError(f"the actor has {len(triples)} layers but {len(masks)} masks")
    widths = [(w.shape[1], w.shape[0]) for w, _, _ in triples]  # (in, out) per layer
    if any(prev[1] != nxt[0] for prev, nxt in zip(widths[:-1], widths[1:], strict=True)):
        raise ConfigError("the actor's layers do not form one chain (is it a multi-head network?)")
    layers = []
    for i, (weight_t, bias_t, own_mask) in enumerate(triples):
        weight = weight_t.detach().cpu().float().numpy().copy()  # [out, in]
        mask = weight != 0
        for given in (own_mask, None if masks is None else masks[i]):
            if given is not None:
                mask |= given.detach().cpu().numpy().astype(bool)
        bias = bias_t.detach().cpu().float().numpy().copy()  # [out]
        layers.append((weight, mask, bias))
    return layers


def action_scaling(actor: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(scale [act], bias [act]) of the head: action = tanh(·) · scale + bias."""
    scaling = actor.scaling
    return (
        scaling.scale.detach().cpu().float().numpy().copy(),
        scaling.bias.detach().cpu().float().numpy().copy(),
    )


# ------------------------------------------------------------------- pure: layers -> file


def csr_arrays(weight: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-compressed active weights: weight [out, in], mask [out, in] -> indptr [out + 1]
    int32, indices [nnz] (int16 when in <= 32767, else int32), values [nnz] float32.

    Within a row, indices ascend (row-major order of ``np.nonzero``).
    """
    rows, cols = np.nonzero(mask)  # [nnz] each, row-major
    indptr = np.zeros(mask.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=mask.shape[0]), out=indptr[1:])
    index_dtype = np.int16 if mask.shape[1] <= np.iinfo(np.int16).max else np.int32
    return indptr, cols.astype(index_dtype), weight[rows, cols].astype(np.float32)


def policy_tensors(
    layers: list[Layer], scale: np.ndarray, bias: np.ndarray, storage: str
) -> dict[str, np.ndarray]:
    """The tensors of a policy file (names as in docs/deploy.md)."""
    tensors: dict[str, np.ndarray] = {}
    for i, (weight, mask, layer_bias) in enumerate(layers):
        if storage == "csr":
            indptr, indices, values = csr_arrays(weight, mask)
            tensors[f"layer{i}.indptr"] = indptr
            tensors[f"layer{i}.indices"] = indices
            tensors[f"layer{i}.values"] = values
        else:
            tensors[f"layer{i}.weight"] = np.where(mask, weight, 0).astype(np.float32)
        tensors[f"layer{i}.bias"] = layer_bias.astype(np.float32)
    tensors["action_scale"] = scale.astype(np.float32)
    tensors["action_bias"] = bias.astype(np.float32)
    return tensors


def policy_metadata(
    layers: list[Layer], algo: str, env: str, act_dim: int, extra: dict[str, Any]
) -> dict[str, str]:
    """The metadata map (strings only, as safetensors requires) shared by both storages."""
    num_active = sum(int(mask.sum()) for _, mask, _ in layers)
    num_weights = sum(mask.size for _, mask, _ in layers)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "algo": algo,
        "env": env,
        "obs_dim": str(layers[0][0].shape[1]),
        "act_dim": str(act_dim),
        "hidden_sizes": json.dumps([w.shape[0] for w, _, _ in layers[:-1]]),
        "activation": "relu",
        "output": "tanh",
        "head": "gaussian_mean" if algo == "sac" else "deterministic",
        "num_active": str(num_active),
        "num_weights": str(num_weights),
        "sparsity": f"{1.0 - num_active / num_weights:.6f}",
        "rlx2_version": rlx2.__version__,
    }
    metadata.update({key: str(value) for key, value in extra.items()})
    return metadata


# ------------------------------------------------------------------- run directory -> file


def _env_spec(saved: dict[str, Any], env_id: str) -> EnvSpec:
    """The task's dimensions and bounds as the run recorded them (no need to create the env)."""
    recorded = saved.get("env_spec")
    if not recorded:
        return check_env(env_id)
    return EnvSpec(
        env_id=env_id,
        obs_dim=int(recorded["obs_dim"]),
        act_dim=int(recorded["act_dim"]),
        low=np.asarray(recorded["action_low"], dtype=np.float32),
        high=np.asarray(recorded["action_high"], dtype=np.float32),
        max_episode_steps=recorded.get("max_episode_steps"),
    )


def load_final_agent(run_dir: str | Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(agent on the CPU, saved config.json, checkpoint) of a completed run.

    :raises RunDirError: not a run, no final checkpoint, unreadable config or checkpoint.
    """
    run_dir = Path(run_dir)
    status = rundir.run_status(run_dir)
    if status is None:
        raise RunDirError(f"{run_dir}: no rlx2 run there (no config.json)")
    checkpoint_path = run_dir / rundir.CHECKPOINTS / FINAL_CHECKPOINT
    if not checkpoint_path.exists():
        raise RunDirError(
            f"{run_dir}: no final checkpoint ({rundir.CHECKPOINTS}/{FINAL_CHECKPOINT}); "
            f"the run is {status}, only a completed run can be exported"
        )
    try:
        saved = rundir.read_json(run_dir / rundir.CONFIG)
        config = config_from_dict(saved["config"])
        spec = _env_spec(saved, config.env)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunDirError(f"{run_dir}: unreadable config.json ({exc})") from None
    try:
        run = dataclasses.replace(config.run, device="cpu")
        # Rebuild the networks the run trained: on the CPU, "auto" may resolve to another
        # backend than the run's (a masked run trained on a GPU), whose state would not load.
        backend = (saved.get("effective") or {}).get("backend")
        if backend and hasattr(run, "backend"):
            run = dataclasses.replace(run, backend=backend)
        agent, _ = build_agent(dataclasses.replace(config, run=run), spec)
    except ConfigError as exc:
        raise RunDirError(f"{run_dir}: cannot rebuild the run's networks here ({exc})") from None
    try:
        # Our own file (it holds NumPy RNG states, hence weights_only=False).
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        agent.load_state_dict(checkpoint["agent"])
    except Exception as exc:  # corrupt file, or one that does not match config.json
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunDirError(
            f"{run_dir}: unreadable checkpoint {rundir.CHECKPOINTS}/{FINAL_CHECKPOINT} ({reason})"
        ) from None
    return agent, saved, checkpoint


def export_policy(
    run_dir: str | Path, out: str | Path, dense: bool = False, overwrite: bool = False
) -> ExportResult:
    """Write the final actor of ``run_dir`` to ``out`` (atomically); returns sizes and counts.

    :raises ConfigError: ``out`` exists (without ``overwrite``) or is a directory; and the
        RunDirErrors of :func:`load_final_agent`.
    """
    run_dir, out = Path(run_dir), Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; name a file")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} exists; pass --overwrite to replace it")
    rundir.check_writable_dir(out.parent, f"--out {out}")  # before the work: nothing is written yet
    agent, saved, checkpoint = load_final_agent(run_dir)
    config = saved["config"]
    # Sparse updaters expose their masks as ``masks.masks``; dense ones have none.
    updater_masks = getattr(agent.actor_updater, "masks", None)
    layers = actor_layers(agent.actor, updater_masks.masks if updater_masks is not None else None)
    scale, bias = action_scaling(agent.actor)
    metadata = policy_metadata(
        layers,
        config["algo"],
        config["env"],
        act_dim=scale.shape[0],
        extra={
            "method": config["sparse"]["method"],
            "seed": config["run"]["seed"],
            "step": checkpoint.get("step", ""),
        },
    )
    files = {
        storage: save(
            policy_tensors(layers, scale, bias, storage), {**metadata, "storage": storage}
        )
        for storage in ("csr", "dense")
    }
    storage = "dense" if dense else "csr"
    try:
        rundir.atomic_write_bytes(out, files[storage])
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write it ({os_error_text(exc)})") from None
    state = io.BytesIO()
    torch.save(agent.actor.state_dict(), state)
    return ExportResult(
        path=out,
        storage=storage,
        file_bytes=len(files[storage]),
        csr_file_bytes=len(files["csr"]),
        dense_file_bytes=len(files["dense"]),
        torch_state_dict_bytes=len(state.getvalue()),
        num_active=int(metadata["num_active"]),
        num_weights=int(metadata["num_weights"]),
        metadata={**metadata, "storage": storage},
    )


def _kib(num_bytes: int) -> str:
    return f"{num_bytes / 1024:.1f} KiB"


def cli_main(args: list[str]) -> None:
    """``rlx2 export RUN_DIR --out FILE [--dense] [--overwrite]``."""
    from rlx2.cli import parse

    config: ExportConfig = parse(ExportConfig, args, "rlx2 export")
    result = export_policy(config.run_dir, config.out, config.dense, config.overwrite)
    meta = result.metadata
    print(
        f"exported {meta['algo']} {meta['method']} {meta['env']} (step {meta['step']}) -> "
        f"{result.path} [{result.storage}]: {result.num_active}/{result.num_weights} actor "
        f"weights active (sparsity {float(meta['sparsity']):.3f}); {result.file_bytes} bytes "
        f"({_kib(result.file_bytes)}); csr file {_kib(result.csr_file_bytes)}, dense file "
        f"{_kib(result.dense_file_bytes)}, torch state_dict {_kib(result.torch_state_dict_bytes)}"
        + (
            " (a dense actor: --dense writes the smaller file)"
            if result.storage == "csr" and result.csr_file_bytes > result.dense_file_bytes
            else ""
        )
    )


__all__ = [
    "ExportConfig",
    "ExportResult",
    "action_scaling",
    "actor_layers",
    "csr_arrays",
    "export_policy",
    "load_final_agent",
    "policy_tensors",
]
