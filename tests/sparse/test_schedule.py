"""DropSchedule: cosine drop fraction and update cadence (spec §3)."""

import math

import pytest

from rlx2.errors import ConfigError
from rlx2.sparse.schedule import DropSchedule


def test_fraction_is_cosine_annealed():
    s = DropSchedule(initial_fraction=0.5, interval_updates=10, end_update=100)
    assert s.fraction(0) == pytest.approx(0.5)
    assert s.fraction(50) == pytest.approx(0.25)
    assert s.fraction(100) == pytest.approx(0.0)
    for t in range(0, 101, 7):
        assert s.fraction(t) == pytest.approx(0.25 * (1 + math.cos(math.pi * t / 100)))


def test_updates_every_interval_until_end():
    s = DropSchedule(interval_updates=10, end_update=45)
    assert [t for t in range(0, 100) if s.is_update(t)] == [10, 20, 30, 40]
    assert not DropSchedule(interval_updates=10, end_update=40).is_update(40)


def test_defaults_are_the_papers():
    s = DropSchedule(end_update=1_000_000)
    assert (s.initial_fraction, s.interval_updates) == (0.5, 10_000)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval_updates": 0}, "interval_updates=0"),
        ({"interval_updates": -5}, "interval_updates=-5"),
        ({"initial_fraction": 0.0}, r"initial_fraction=0\.0 must be in \(0, 1\]"),
        ({"initial_fraction": 1.5}, r"initial_fraction=1\.5"),
        ({"end_update": 0}, "end_update=0"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DropSchedule(**{"end_update": 100, **kwargs})
