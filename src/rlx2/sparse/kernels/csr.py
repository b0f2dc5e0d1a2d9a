"""Stacked-CSR layout of sparse MLP heads: masks in, kernel index arrays out. NumPy only.

One :class:`SparseLayout` describes ``H`` heads (one actor MLP, or the two Q heads of a twin
critic) that read the same input. Every output neuron of every layer of every head is one
*row* of a single CSR matrix, in (head, layer, neuron) order, and every activation the network
computes is one row of a feature-major buffer ``act [n_in + num_rows, B]``::

    act[0 : n_in]             the input, transposed ([features, B])
    act[n_in + r]             the output of row r (after its ReLU / tanh)

A row's column indices point straight at ``act`` rows (``sources``), so the forward pass is one
loop over rows in order: ``act[n_in + r] = f(bias[r] + sum_k values[k] * act[sources[k]])``.
Rows are ordered head by head, so the first head alone is a row prefix (``head_row_stop``):
the actor loss can evaluate Q1 without Q2. The transposed index (``consumer_ptr`` ...) lists,
for each ``act`` row, the rows that read it; the backward pass pulls gradients through it
(see ``ops.backward``).

Slot ``k`` (a position in ``values``) is ordered by (head, layer, row, column), i.e. by the
flat index of the weight in the concatenated dense matrices (``dense_keys``); that order is what
:func:`slot_remap` uses to carry values (and optimiser moments) across a topology change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlx2.errors import ConfigError

ACTIVATIONS = {"identity": 0, "relu": 1, "tanh": 2}
"""Activation codes stored per row (``SparseLayout.activation``) and read by the kernels."""

INDEX_DTYPE = np.int32


@dataclass(frozen=True, eq=False)
class SparseLayout:
    """Index arrays of stacked sparse MLP heads (build with :meth:`from_masks`).

    :param in_features: width of the shared input (``n_in``).
    :param head_widths: per head, the layer widths ``(in_features, hidden..., out)``.
    :param output_activation: activation of each head's last layer ("identity" | "tanh").
    :param row_ptr: [num_rows + 1] CSR row pointer into the slots.
    :param sources: [nnz] uint32, the ``act`` row read by each slot (column + offset of the
        layer's input).
    :param columns: [nnz] the column of each slot inside its own layer's weight matrix.
    :param activation: [num_rows] activation code of each row (``ACTIVATIONS``).
    :param output_column: [num_rows] column of the module output a row writes, -1 if hidden.
    :param output_rows: [out_features] the ``act`` row of each output column.
    :param consumer_ptr: [n_in + num_rows + 1] pointer into the transposed lists, per act row.
    :param consumer_rows: [nnz] the row that reads the act row, ascending within each list.
    :param consumer_slots: [nnz] the slot of that weight.
    """

    in_features: int
    head_widths: tuple[tuple[int, ...], ...]
    output_activation: str
    row_ptr: np.ndarray
    sources: np.ndarray
    columns: np.ndarray
    activation: np.ndarray
    output_column: np.ndarray
    output_rows: np.ndarray
    consumer_ptr: np.ndarray
    consumer_rows: np.ndarray
    consumer_slots: np.ndarray

    # ------------------------------------------------------------ construction

    @classmethod
    def from_masks(
        cls,
        in_features: int,
        head_widths: Sequence[Sequence[int]],
        masks: Sequence[np.ndarray],
        output_activation: str = "identity",
    ) -> SparseLayout:
        """Build the layout from one bool mask [out, in] per layer, in (head, layer) order."""
        widths = tuple(tuple(int(w) for w in head) for head in head_widths)
        _validate(in_features, widths, output_activation)
        shapes = [(head[i + 1], head[i]) for head in widths for i in range(len(head) - 1)]
        if len(masks) != len(shapes):
            raise ConfigError(f"masks: got {len(masks)} masks for {len(shapes)} layers")
        row_parts, source_parts, column_parts, activation = [], [], [], []
        output_column: list[int] = []
        row = 0
        out_col = 0
        layer = 0
        for head in widths:
            source_offset = 0  # act row of this layer's input: the shared input for layer 0
            for i in range(len(head) - 1):
                mask = np.asarray(masks[layer], dtype=bool)
                if mask.shape != shapes[layer]:
                    raise ConfigError(
                        f"masks[{layer}] has shape {mask.shape}, the layer is {shapes[layer]}"
                    )
                rows, cols = np.nonzero(mask)  # row-major order
                row_parts.append(rows + row)
                source_parts.append(cols + source_offset)
                column_parts.append(cols)
                last = i == len(head) - 2
                code = ACTIVATIONS[output_activation] if last else ACTIVATIONS["relu"]
                activation += [code] * head[i + 1]
                if last:
                    output_column += list(range(out_col, out_col + head[i + 1]))
                    out_col += head[i + 1]
                else:
                    output_column += [-1] * head[i + 1]
                source_offset = in_features + row
                row += head[i + 1]
                layer += 1
        num_rows = row
        slot_rows = np.concatenate(row_parts).astype(np.int64)
        sources = np.concatenate(source_parts).astype(INDEX_DTYPE)
        row_ptr = np.zeros(num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(slot_rows, minlength=num_rows), out=row_ptr[1:])
        # Transposed lists: slots sorted by (source act row, consumer row).
        order = np.lexsort((slot_rows, sources))
        consumer_ptr = np.zeros(in_features + num_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(sources, minlength=in_features + num_rows), out=consumer_ptr[1:])
        return cls(
            in_features=int(in_features),
            head_widths=widths,
            output_activation=output_activation,
            row_ptr=row_ptr.astype(INDEX_DTYPE),
            # Unsigned: numba then skips the negative-index wrap on every gather (B = 1 kernel).
            sources=sources.astype(np.uint32),
            columns=np.concatenate(column_parts).astype(INDEX_DTYPE),
            activation=np.asarray(activation, dtype=np.int8),
            output_column=np.asarray(output_column, dtype=INDEX_DTYPE),
            output_rows=(in_features + np.flatnonzero(np.asarray(output_column) >= 0)).astype(
                INDEX_DTYPE
            ),
            consumer_ptr=consumer_ptr.astype(INDEX_DTYPE),
            consumer_rows=slot_rows[order].astype(INDEX_DTYPE),
            consumer_slots=order.astype(INDEX_DTYPE),
        )

    # ------------------------------------------------------------ sizes

    @property
    def nnz(self) -> int:
        return int(self.sources.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.activation.shape[0])

    @property
    def num_heads(self) -> int:
        return len(self.head_widths)

    @property
    def out_features(self) -> int:
        """Width of the module output: the heads' outputs side by side."""
        return sum(head[-1] for head in self.head_widths)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Weight shapes (out, in) per layer, in (head, layer) order (``linear_weights`` order)."""
        return [(h[i + 1], h[i]) for h in self.head_widths for i in range(len(h) - 1)]

    @property
    def layer_rows(self) -> list[tuple[int, int]]:
        """[start, stop) rows of each layer."""
        bounds, row = [], 0
        for out, _ in self.shapes:
            bounds.append((row, row + out))
            row += out
        return bounds

    @property
    def layer_slots(self) -> list[tuple[int, int]]:
        """[start, stop) slots of each layer (a layer's values are ``values[start:stop]``)."""
        return [(int(self.row_ptr[a]), int(self.row_ptr[b])) for a, b in self.layer_rows]

    @property
    def layer_inputs(self) -> list[int]:
        """First act row of each layer's input (0 for the first layer of every head)."""
        rows = self.layer_rows
        starts, layer = [], 0
        for head in self.head_widths:
            for i in range(len(head) - 1):
                starts.append(0 if i == 0 else self.in_features + rows[layer - 1][0])
                layer += 1
        return starts

    def head_row_stop(self, num_heads: int) -> int:
        """Rows to evaluate for the first ``num_heads`` heads (a prefix of the rows)."""
        if not 1 <= num_heads <= self.num_heads:
            raise ConfigError(f"heads={num_heads} must be in [1, {self.num_heads}]")
        return sum(sum(h[1:]) for h in self.head_widths[:num_heads])

    def head_out_features(self, num_heads: int) -> int:
        return sum(h[-1] for h in self.head_widths[:num_heads])

    def layer_nnz(self) -> list[int]:
        return [b - a for a, b in self.layer_slots]

    # ------------------------------------------------------------ conversions

    def slot_rows(self) -> np.ndarray:
        """[nnz] row of each slot."""
        return np.repeat(np.arange(self.num_rows), np.diff(self.row_ptr)).astype(np.int64)

    def masks(self) -> list[np.ndarray]:
        """Bool mask [out, in] per layer."""
        rows = self.slot_rows()
        out = []
        for (out_dim, in_dim), (r0, _), (s0, s1) in zip(
            self.shapes, self.layer_rows, self.layer_slots, strict=True
        ):
            mask = np.zeros((out_dim, in_dim), dtype=bool)
            mask[rows[s0:s1] - r0, self.columns[s0:s1]] = True
            out.append(mask)
        return out

    def dense_keys(self) -> np.ndarray:
        """[nnz] flat index of each slot in the concatenation of the flattened dense layers."""
        rows = self.slot_rows()
        keys = np.empty(self.nnz, dtype=np.int64)
        offset = 0
        for (out_dim, in_dim), (r0, _), (s0, s1) in zip(
            self.shapes, self.layer_rows, self.layer_slots, strict=True
        ):
            keys[s0:s1] = offset + (rows[s0:s1] - r0) * in_dim + self.columns[s0:s1]
            offset += out_dim * in_dim
        return keys


def slot_remap(old: SparseLayout, new: SparseLayout) -> np.ndarray:
    """[new.nnz] slot of ``old`` holding the same weight position, -1 where the position is new.

    ``new_values = where(src >= 0, old_values[src], 0)`` carries values (and per-slot optimiser
    state, or a target network's values) across a topology change.
    """
    if old.shapes != new.shapes:
        raise ConfigError(f"layouts differ in shape: {old.shapes} vs {new.shapes}")
    old_keys, new_keys = old.dense_keys(), new.dense_keys()  # both ascending
    pos = np.searchsorted(old_keys, new_keys)
    pos_clipped = np.minimum(pos, max(old.nnz - 1, 0))
    found = (pos < old.nnz) & (old_keys[pos_clipped] == new_keys) if old.nnz else pos < 0
    return np.where(found, pos, -1).astype(np.int64)


def _validate(in_features: int, widths: tuple[tuple[int, ...], ...], output_activation: str):
    if output_activation not in ("identity", "tanh"):
        raise ConfigError(
            f"output_activation={output_activation!r} is unknown; valid: identity, tanh"
        )
    if not widths:
        raise ConfigError("head_widths is empty: a sparse MLP needs at least one head")
    for h, head in enumerate(widths):
        if len(head) < 2 or any(w < 1 for w in head):
            raise ConfigError(f"head_widths[{h}]={head} needs >= 2 positive widths")
        if head[0] != in_features:
            raise ConfigError(f"head {h} reads {head[0]} features, the input has {in_features}")
