"""Tiny baseline width: the dense MLP whose weight count is closest to a target (spec §4)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlx2.errors import ConfigError
from rlx2.sparse.tiny import mlp_weight_count, tiny_hidden_width


@settings(max_examples=200, deadline=None)
@given(
    in_dim=st.integers(1, 120),
    out_dim=st.integers(1, 10),
    target=st.integers(1, 200_000),
    heads=st.integers(1, 2),
    hidden_layers=st.integers(1, 3),
)
def test_width_is_at_least_as_close_as_its_neighbours(
    in_dim, out_dim, target, heads, hidden_layers
):
    h = tiny_hidden_width(in_dim, out_dim, target, heads, hidden_layers)
    assert h >= 1

    def gap(width):
        return abs(mlp_weight_count(in_dim, out_dim, width, heads, hidden_layers) - target)

    assert gap(h) <= gap(h + 1)
    if h > 1:
        assert gap(h) <= gap(h - 1)


def test_known_widths():
    # Full width reproduces itself: 17*256 + 256*256 + 256*6 weights -> 256.
    assert tiny_hidden_width(17, 6, 17 * 256 + 256 * 256 + 256 * 6) == 256
    assert tiny_hidden_width(23, 1, 2 * (23 * 64 + 64 * 64 + 64), heads=2) == 64
    assert tiny_hidden_width(3, 2, 1) == 1  # even h = 1 is over the target


@pytest.mark.parametrize(
    "kwargs", [{"target_weights": 0}, {"in_dim": 0}, {"heads": 0}, {"hidden_layers": 0}]
)
def test_invalid_inputs_name_the_setting(kwargs):
    args = {"in_dim": 5, "out_dim": 2, "target_weights": 100, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(ConfigError, match=f"{name}=0 must be a positive int"):
        tiny_hidden_width(**args)
