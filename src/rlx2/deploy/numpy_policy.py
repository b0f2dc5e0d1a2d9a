"""Run an exported actor with NumPy only: ``load_policy(FILE)(obs) -> action``.

This module and everything it imports (NumPy, ``safetensors.numpy``) is torch-free, so a
policy trained by rlx2 runs on a device that has only NumPy (an import-linter contract in
pyproject.toml keeps it so). The file format is specified in docs/deploy.md and written by
``rlx2.deploy.export``.

The network is ``obs -> [Linear, ReLU] x len(hidden_sizes) -> Linear -> tanh -> scale + bias``.
Layers are stored in CSR form (per output row, the input indices and values of its active
weights). Each is multiplied either in that form (work and memory grow with the active
weights) or as a dense matrix (BLAS, faster for layers that are not very sparse): see
``load_policy``'s ``execution``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load

FORMAT = "rlx2-policy"
FORMAT_VERSION = 1
STORAGES = ("csr", "dense")
HEADS = ("deterministic", "gaussian_mean")
"""deterministic: TD3's act_dim outputs; gaussian_mean: SAC's 2·act_dim outputs (mean, then
log σ), of which the policy uses the mean (the deterministic action of SAC's evaluation)."""


EXECUTIONS = ("auto", "csr", "dense")
DENSE_ABOVE_DENSITY = 0.05
"""``execution="auto"`` multiplies a layer densely (BLAS) when more than this fraction of its
weights is active, in CSR form otherwise (docs/deploy.md has the measurements behind it)."""

_CALLS_PER_STEP = 256
"""A CSR batch is summed by reduceat when out × B (its inner-loop calls, ~12 ns each) is at
most this many times the number of k-steps (~3 µs of NumPy overhead each) ..."""
_MAX_REDUCEAT_PRODUCTS = 1 << 20
"""... and its [nnz, B] products stay under this many floats (4 MiB)."""


class PolicyFileError(ValueError):
    """A policy file that cannot be used: unreadable, corrupt, inconsistent or of another format."""


@dataclass(frozen=True)
class RecordLayer:
    """One layer of a :class:`PolicyRecord`: y = W h + b with W in CSR form (the computed rows).

    :param n_in: input width.
    :param indptr: [out + 1] intp, row r's active weights are ``indptr[r]:indptr[r + 1]``.
    :param indices: [nnz] intp, input index of each active weight (ascending within a row).
    :param values: [nnz] float32 weights (exact zeros kept when active).
    :param bias: [out] float32.
    """

    n_in: int
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    bias: np.ndarray

    @property
    def n_out(self) -> int:
        return int(self.bias.size)

    @property
    def num_active(self) -> int:
        return int(self.indptr[-1])

    def dense_weight(self) -> np.ndarray:
        """The weight matrix [out, in] float32, zeros at inactive positions."""
        dense = np.zeros((self.n_out, self.n_in), dtype=np.float32)
        rows = np.repeat(np.arange(self.n_out), np.diff(self.indptr))  # [nnz]
        dense[rows, self.indices] = self.values
        return dense


@dataclass(frozen=True)
class PolicyRecord:
    """A validated policy file: the one definition of what an exported policy computes.

    ``obs -> [relu(W h + b)] x hidden -> tanh(W h + b) * action_scale + action_bias``, with
    the layers cut to the rows that are computed (SAC: the mean rows of the head). The NumPy
    policy (:meth:`NumpyPolicy.from_record`) and the C export (``rlx2.deploy.c_export``) are
    both built from it. There is no observation normalisation and no clipping: tanh bounds
    the action to the task's box.
    """

    layers: tuple[RecordLayer, ...]
    action_scale: np.ndarray
    """[act_dim] float32, (high - low) / 2."""
    action_bias: np.ndarray
    """[act_dim] float32, (high + low) / 2."""
    metadata: dict[str, str]
    nbytes: int
    """Bytes of all tensors in the file (weights, indices, biases, action scaling)."""

    @property
    def obs_dim(self) -> int:
        return self.layers[0].n_in

    @property
    def act_dim(self) -> int:
        return int(self.action_scale.size)


class _CsrLayer:
    """One sparse layer: y = W h + b with W in CSR form (int indices, float32 values).

    Activations are feature-major: h [in] -> [out] (one observation) or h [in, B] -> [out, B].
    The work of every path grows with the active weights; their summation orders differ, so
    results may differ in the last bits.

    :param indptr: [out + 1] int, row r's active weights are ``indptr[r]:indptr[r + 1]``.
    :param indices: [nnz] int, input index of each active weight.
    :param values: [nnz] float32 weights.
    :param bias: [out] float32.
    """

    def __init__(
        self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, bias: np.ndarray
    ):
        indptr = indptr.astype(np.intp)
        lengths = np.diff(indptr)  # [out] active weights per row
        self.bias = bias
        self.bias_col = bias[:, None]
        self.num_active = int(indptr[-1])

        # One observation: products [nnz] summed per row by np.add.reduceat. reduceat gives
        # products[start] (not 0) for a row whose start equals the next row's, and cannot
        # start at nnz: append a product that is always 0 and zero the empty rows' sums.
        self.starts = indptr[:-1]  # [out], each <= nnz
        self.row_scale = (lengths > 0).astype(np.float32) if np.any(lengths == 0) else None
        self.indices = np.append(indices, 0).astype(np.intp)  # [nnz + 1]
        self.values = np.append(values, np.float32(0.0))  # [nnz + 1]

        # A batch: reduceat along an axis costs one inner-loop call per (row, column), so
        # instead add the k-th active weight of every row that has one, for k = 0, 1, ...
        # (max row length steps). Rows sorted by length, longest first, make each step's
        # rows a prefix; ``unsort`` restores their order.
        order = np.argsort(-lengths, kind="stable")  # [out]
        self.unsort = np.argsort(order)  # [out]
        sorted_lengths = lengths[order]
        self.steps = []
        for k in range(int(lengths.max(initial=0))):
            num_rows = int(np.count_nonzero(sorted_lengths > k))
            slots = indptr[order[:num_rows]] + k  # [num_rows] the k-th weight of each row
            self.steps.append((num_rows, indices[slots].astype(np.intp), values[slots][:, None]))

    def __call__(self, h: np.ndarray) -> np.ndarray:
        """h [in] -> [out], or h [in, B] -> [out, B]; float32."""
        if h.ndim == 1 or (
            self.bias.size * h.shape[1] <= _CALLS_PER_STEP * len(self.steps)
            and self.indices.size * h.shape[1] <= _MAX_REDUCEAT_PRODUCTS
        ):
            # [out] or [out, B]; for a batch, worth it when there are few rows (an output layer)
            values = self.values if h.ndim == 1 else self.values[:, None]
            sums = np.add.reduceat(h[self.indices] * values, self.starts, axis=0)
            if self.row_scale is not None:
                sums *= self.row_scale if h.ndim == 1 else self.row_scale[:, None]
            return sums + (self.bias if h.ndim == 1 else self.bias_col)
        out = np.zeros((self.bias.size, h.shape[1]), dtype=np.float32)  # [out, B], sorted rows
        for num_rows, indices, values in self.steps:
            out[:num_rows] += h[indices] * values  # [num_rows, B]
        out = out[self.unsort]
        out += self.bias_col
        return out


class _DenseLayer:
    """y = W h + b, feature-major like :class:`_CsrLayer` (BLAS; zeros included)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        self.weight = np.ascontiguousarray(weight)  # [out, in]
        self.bias = bias
        self.bias_col = bias[:, None]
        self.num_active = weight.size

    def __call__(self, h: np.ndarray) -> np.ndarray:
        return self.weight @ h + (self.bias_col if h.ndim == 2 else self.bias)


class NumpyPolicy:
    """The deterministic policy of an exported actor (build it with :func:`load_policy`).

    ``policy(obs)``: obs [obs_dim] -> action [act_dim], or [B, obs_dim] -> [B, act_dim];
    float32 arithmetic throughout, like the torch actor.
    """

    def __init__(
        self,
        layers: list[_CsrLayer | _DenseLayer],
        action_scale: np.ndarray,
        action_bias: np.ndarray,
        metadata: Mapping[str, str],
        nbytes: int,
    ):
        self._layers = layers
        self.action_scale = action_scale
        self.action_bias = action_bias
        self.metadata = dict(metadata)
        self.obs_dim = int(metadata["obs_dim"])
        self.act_dim = int(metadata["act_dim"])
        self.nbytes = nbytes
        """Bytes of all tensors in the file (weights, indices, biases, action scaling)."""

    @classmethod
    def from_record(cls, record: PolicyRecord, execution: str = "auto") -> NumpyPolicy:
        """The policy of a validated record; ``execution`` as in :func:`load_policy`."""
        layers: list[_CsrLayer | _DenseLayer] = []
        for layer in record.layers:
            density = layer.num_active / (layer.n_out * layer.n_in)
            if execution == "dense" or (execution == "auto" and density > DENSE_ABOVE_DENSITY):
                layers.append(_DenseLayer(layer.dense_weight(), layer.bias))
            else:
                layers.append(_CsrLayer(layer.indptr, layer.indices, layer.values, layer.bias))
        return cls(layers, record.action_scale, record.action_bias, record.metadata, record.nbytes)

    @property
    def num_stored_weights(self) -> int:
        """Weights the policy multiplies (CSR layers: the active ones; dense layers: all)."""
        return sum(layer.num_active for layer in self._layers)

    @property
    def execution(self) -> list[str]:
        """How each layer is multiplied: "csr" or "dense"."""
        return ["csr" if isinstance(layer, _CsrLayer) else "dense" for layer in self._layers]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        if x.ndim not in (1, 2) or x.shape[-1] != self.obs_dim:
            raise ValueError(
                f"observation has shape {x.shape}; the policy expects ({self.obs_dim},) "
                f"or (batch, {self.obs_dim})"
            )
        if x.ndim == 1:
            return self._forward(x)
        # Feature-major inside: [obs_dim, B] (a transposed view; the first gather copies it).
        return np.ascontiguousarray(self._forward(x.T).T)

    def _forward(self, h: np.ndarray) -> np.ndarray:
        """h [obs_dim] or [obs_dim, B] -> [act_dim] or [act_dim, B]."""
        for layer in self._layers[:-1]:
            h = layer(h)
            np.maximum(h, np.float32(0.0), out=h)  # ReLU
        action = np.tanh(self._layers[-1](h))
        if h.ndim == 2:
            return action * self.action_scale[:, None] + self.action_bias[:, None]
        return action * self.action_scale + self.action_bias

    def __repr__(self) -> str:
        meta = self.metadata
        return (
            f"NumpyPolicy({meta.get('algo', '?')} {meta.get('env', '?')}, obs_dim={self.obs_dim}, "
            f"act_dim={self.act_dim}, hidden={meta['hidden_sizes']}, storage={meta['storage']}, "
            f"execution={self.execution})"
        )


# ------------------------------------------------------------------------------- loading


def load_policy(path: str | Path, execution: str = "auto") -> NumpyPolicy:
    """Read and validate a policy file written by ``rlx2 export``.

    :param execution: how layers are multiplied: "csr" (the active weights only), "dense"
        (BLAS on the dense matrix), or "auto": dense for layers with more than
        ``DENSE_ABOVE_DENSITY`` of their weights active, CSR for the others.

    :raises PolicyFileError: the file is missing, unreadable, not a safetensors file, not an
        rlx2 policy of a supported version, or its tensors do not match its metadata. The
        message is one line that starts with the path.
    """
    if execution not in EXECUTIONS:
        raise ValueError(f"execution={execution!r}; choose one of {EXECUTIONS}")
    return NumpyPolicy.from_record(load_policy_record(path), execution)


def load_policy_record(path: str | Path) -> PolicyRecord:
    """The validated :class:`PolicyRecord` of a policy file (what ``load_policy`` runs).

    :raises PolicyFileError: as :func:`load_policy`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PolicyFileError(f"{path}: unreadable ({exc.strerror or exc})") from None
    try:
        return policy_record_from_bytes(data)
    except PolicyFileError as exc:
        raise PolicyFileError(f"{path}: {exc}") from None


def policy_record_from_bytes(data: bytes) -> PolicyRecord:
    """The validated record of a policy file's bytes (``rlx2 export --format c`` reads the
    bytes it would have written as a file through here, so both targets share one reader).

    :raises PolicyFileError: with a one-line reason (no path).
    """
    try:
        tensors = load(data)
        metadata = _header_metadata(data)
    except (SafetensorError, ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PolicyFileError(f"not a readable safetensors file ({reason})") from None
    return policy_record(tensors, metadata)


def _header_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` string map of a safetensors file (8-byte length, then a JSON header)."""
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("__metadata__ is not a map")
    return metadata


def _int_field(metadata: Mapping[str, str], key: str, minimum: int = 1) -> int:
    try:
        value = int(metadata[key])
    except KeyError:
        raise PolicyFileError(f"metadata has no {key!r}") from None
    except (TypeError, ValueError):
        raise PolicyFileError(f"metadata {key}={metadata[key]!r} is not an integer") from None
    if value < minimum:
        raise PolicyFileError(f"metadata {key}={value} must be >= {minimum}")
    return value


def _choice(metadata: Mapping[str, str], key: str, allowed: tuple[str, ...]) -> str:
    value = metadata.get(key)
    if value not in allowed:
        raise PolicyFileError(
            f"metadata {key}={value!r} is not supported (expected one of {allowed})"
        )
    return value


def _hidden_sizes(metadata: Mapping[str, str]) -> list[int]:
    try:
        sizes = json.loads(metadata["hidden_sizes"])
    except KeyError:
        raise PolicyFileError("metadata has no 'hidden_sizes'") from None
    except ValueError:
        raise PolicyFileError(
            f"metadata hidden_sizes={metadata['hidden_sizes']!r} is not JSON"
        ) from None
    if not (isinstance(sizes, list) and all(isinstance(s, int) and s >= 1 for s in sizes)):
        raise PolicyFileError(
            f"metadata hidden_sizes={sizes!r} must be a list of positive integers"
        )
    return sizes


def _tensor(
    tensors: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...], kinds: str
) -> np.ndarray:
    """The tensor ``name`` with the expected shape and dtype kind ('f': float32, 'i': int16/32)."""
    if name not in tensors:
        raise PolicyFileError(f"missing tensor {name!r}")
    array = tensors[name]
    if array.shape != shape:
        raise PolicyFileError(f"tensor {name!r} has shape {array.shape}, expected {shape}")
    allowed = {"f": (np.float32,), "i": (np.int16, np.int32)}[kinds]
    if array.dtype.type not in allowed:
        raise PolicyFileError(
            f"tensor {name!r} has dtype {array.dtype}, expected {' or '.join(np.dtype(t).name for t in allowed)}"
        )
    if kinds == "f" and not np.all(np.isfinite(array)):
        raise PolicyFileError(f"tensor {name!r} holds non-finite values")
    return array


def policy_from_tensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str], execution: str = "auto"
) -> NumpyPolicy:
    """Validate the tensors of a policy file against its metadata and build the policy.

    :raises PolicyFileError: with a one-line reason (no path).
    """
    if execution not in EXECUTIONS:
        raise ValueError(f"execution={execution!r}; choose one of {EXECUTIONS}")
    return NumpyPolicy.from_record(policy_record(tensors, metadata), execution)


def policy_record(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> PolicyRecord:
    """Validate the tensors of a policy file against its metadata: the one reader of the format.

    :raises PolicyFileError: with a one-line reason (no path).
    """
    if metadata.get("format") != FORMAT:
        raise PolicyFileError(
            f"not an rlx2 policy file (metadata format={metadata.get('format')!r}, expected {FORMAT!r})"
        )
    version = _int_field(metadata, "format_version")
    if version != FORMAT_VERSION:
        raise PolicyFileError(
            f"format_version {version} is not supported by this rlx2 (reads version {FORMAT_VERSION})"
        )
    storage = _choice(metadata, "storage", STORAGES)
    head = _choice(metadata, "head", HEADS)
    _choice(metadata, "activation", ("relu",))
    _choice(metadata, "output", ("tanh",))
    obs_dim, act_dim = _int_field(metadata, "obs_dim"), _int_field(metadata, "act_dim")
    hidden = _hidden_sizes(metadata)
    out_last = 2 * act_dim if head == "gaussian_mean" else act_dim
    widths = [obs_dim, *hidden, out_last]

    read = {"action_scale", "action_bias"}
    layers: list[RecordLayer] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        names = [f"layer{i}.{part}" for part in ("indptr", "indices", "values", "bias")]
        if storage == "dense":
            names = [f"layer{i}.weight", f"layer{i}.bias"]
            weight = _tensor(tensors, names[0], (n_out, n_in), "f")
            indptr, indices, values = _csr_of_dense(weight)
        else:
            indptr, indices, values = _csr_tensors(tensors, i, n_in, n_out)
        bias = _tensor(tensors, f"layer{i}.bias", (n_out,), "f")
        read.update(names)
        keep = act_dim if i == len(widths) - 2 else n_out  # SAC: the mean rows of the head only
        end = int(indptr[keep])
        layers.append(
            RecordLayer(n_in, indptr[: keep + 1], indices[:end], values[:end], bias[:keep])
        )
    scale = _tensor(tensors, "action_scale", (act_dim,), "f")
    offset = _tensor(tensors, "action_bias", (act_dim,), "f")
    unexpected = sorted(set(tensors) - read)
    if unexpected:
        raise PolicyFileError(
            f"unexpected tensors {unexpected} for hidden_sizes={hidden} ({storage} storage)"
        )
    nbytes = sum(int(t.nbytes) for t in tensors.values())
    return PolicyRecord(tuple(layers), scale, offset, dict(metadata), nbytes)


def _csr_tensors(
    tensors: Mapping[str, np.ndarray], i: int, n_in: int, n_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer ``i``'s CSR tensors, checked: indptr [n_out + 1], indices and values [nnz]."""
    indptr = _tensor(tensors, f"layer{i}.indptr", (n_out + 1,), "i").astype(np.intp)
    nnz = int(indptr[-1])
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or not 0 <= nnz <= n_out * n_in:
        raise PolicyFileError(f"tensor 'layer{i}.indptr' is not a valid CSR row pointer")
    indices = _tensor(tensors, f"layer{i}.indices", (nnz,), "i")
    values = _tensor(tensors, f"layer{i}.values", (nnz,), "f")
    if nnz and (indices.min() < 0 or indices.max() >= n_in):
        raise PolicyFileError(f"tensor 'layer{i}.indices' has indices outside [0, {n_in})")
    return indptr, indices.astype(np.intp), values


def _csr_of_dense(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the non-zero weights of a dense [out, in] matrix (dense storage, csr execution)."""
    rows, cols = np.nonzero(weight)  # row-major
    indptr = np.zeros(weight.shape[0] + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=weight.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.intp), weight[rows, cols]


__all__ = [
    "DENSE_ABOVE_DENSITY",
    "EXECUTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "NumpyPolicy",
    "PolicyFileError",
    "PolicyRecord",
    "RecordLayer",
    "load_policy",
    "load_policy_record",
    "policy_from_tensors",
    "policy_record",
    "policy_record_from_bytes",
]
