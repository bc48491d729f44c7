"""Edges of the estimate contract that sit beside the spec: overflow and extreme prices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.core.bins import bin_index
from monitor.core.contract import evaluate
from monitor.errors import InputError


def test_finite_input_that_overflows_is_out_of_domain():
    document = {
        "price": 1e300,
        "bids": [[1e300, 1e300]],
        "long_levels": [[1e299, 1e308], [1e299, 1e308]],
    }
    with pytest.raises(InputError, match="too large"):
        evaluate(document)


def test_square_root_law_that_overflows_is_out_of_domain():
    params = {"daily_volume_usd": 1e300, "daily_volatility": 1e-300}
    with pytest.raises(InputError, match="too large"):
        evaluate({"price": 1.0, "params": params})


def test_extreme_but_representable_prices_give_finite_output():
    result = evaluate({"price": 1e-300, "bids": [[1e300, 1.0]], "asks": [[1e-310, 5.0]]})
    for side in ("down", "up"):
        assert result[side]["runaway"] == {"1": False, "2": False, "3": False, "5": False}


def test_infinite_distances_never_wrap_to_negative_bins():
    distances = np.array([-math.inf, -1.0, 0.0, 0.0015, math.inf])
    assert list(bin_index(distances, 0.001, 10)) == [1, 1, 1, 2, 11]


def test_max_bins_is_capped_so_a_typo_cannot_exhaust_memory():
    with pytest.raises(InputError, match="max_bins"):
        evaluate({"price": 100.0, "params": {"max_bins": 1_000_000_000}})


@pytest.mark.parametrize("bin_bps", [5e-324, 1e-310, 1e-307])
def test_a_bin_too_narrow_for_the_reported_distances_is_refused(bin_bps):
    # round(100·x / bin_bps) of an infinite float raised OverflowError (a traceback, exit 1).
    document = {"price": 100.0, "long_levels": [[99.0, 1e6]], "params": {"bin_bps": bin_bps}}
    with pytest.raises(InputError, match=r"params\.bin_bps is too small"):
        evaluate(document)


@pytest.mark.parametrize("bin_bps", [0.0, -0.0, -1.0])
def test_a_bin_width_that_is_not_positive_is_refused(bin_bps):
    document = {"price": 100.0, "long_levels": [[99.0, 1e6]], "params": {"bin_bps": bin_bps}}
    with pytest.raises(InputError, match=r"params\.bin_bps must be > 0"):
        evaluate(document)
