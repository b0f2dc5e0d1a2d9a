"""``load_checkpoint``: NumPy RNG states load, anything that could call code is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from rlx2.train.checkpoint import UnsafeCheckpoint, load_checkpoint


def _legacy_bytes(obj) -> bytes:
    """A torch file whose pickle is one plain stream (so module names can be edited in place)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def test_numpy_rng_state_and_tensors_round_trip(tmp_path):
    np.random.seed(3)
    state = {"rng": {"numpy": np.random.get_state(), "torch": torch.get_rng_state()}, "step": 7}
    torch.save(state, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    np.random.set_state(loaded["rng"]["numpy"])
    assert np.random.randint(1 << 30) == np.random.RandomState(3).randint(1 << 30)
    assert loaded["step"] == 7 and torch.equal(loaded["rng"]["torch"], state["rng"]["torch"])


def test_arrays_pickled_under_numpy_1_still_load(tmp_path):
    """NumPy 1.x wrote numpy.core.multiarray._reconstruct; NumPy 2 calls it numpy._core."""
    data = _legacy_bytes({"rng": np.random.get_state()})
    assert b"numpy._core.multiarray" in data
    (tmp_path / "old.pt").write_bytes(
        data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    )
    assert load_checkpoint(tmp_path / "old.pt")["rng"][1].dtype == np.uint32


class _Calls:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


@pytest.mark.parametrize(
    ("function", "args", "name"),
    [(exec, ("raise SystemExit(99)",), "exec"), (print, ("called",), "print")],
)
def test_any_other_callable_is_refused_before_it_is_called(tmp_path, capsys, function, args, name):
    torch.save({"step": 1, "x": _Calls(function, *args)}, tmp_path / "c.pt")
    with pytest.raises(UnsafeCheckpoint, match=f"c.pt: refused to load it: it names .*{name}"):
        load_checkpoint(tmp_path / "c.pt")
    assert capsys.readouterr().out == ""
