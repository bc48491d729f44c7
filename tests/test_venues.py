import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.venues import (
    DEFAULT_TIER_PRIOR,
    DEFAULT_TIERS,
    DEFAULT_VENUE_PARAMS,
    DERIBIT_TIER_PRIOR,
    DERIBIT_TIERS,
    HYPERLIQUID_BTC_TIER_PRIOR,
    HYPERLIQUID_BTC_TIERS,
    HYPERLIQUID_ETH_TIER_PRIOR,
    HYPERLIQUID_ETH_TIERS,
    ContractType,
    UnknownVenueError,
    VenueParams,
    liquidation_price_factors,
    venue_params,
)

VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid")
ASSETS = ("BTC", "ETH")
ALL_DEFAULTS = list(DEFAULT_VENUE_PARAMS.values())


def params_ids(params: VenueParams) -> str:
    return f"{params.venue}-{params.asset}"


# --- defaults --------------------------------------------------------------------------------


def test_defaults_cover_every_supported_venue_and_asset() -> None:
    assert set(DEFAULT_VENUE_PARAMS) == set(itertools.product(VENUES, ASSETS))
    for (venue, asset), params in DEFAULT_VENUE_PARAMS.items():
        assert (params.venue, params.asset) == (venue, asset)


@pytest.mark.parametrize("params", ALL_DEFAULTS, ids=params_ids)
def test_every_default_validates(params: VenueParams) -> None:
    # replace() re-runs __post_init__, so this re-checks each default explicitly.
    assert dataclasses.replace(params) == params


@pytest.mark.parametrize(
    ("tiers", "prior"),
    [
        (DEFAULT_TIERS, DEFAULT_TIER_PRIOR),
        (DERIBIT_TIERS, DERIBIT_TIER_PRIOR),
        (HYPERLIQUID_BTC_TIERS, HYPERLIQUID_BTC_TIER_PRIOR),
        (HYPERLIQUID_ETH_TIERS, HYPERLIQUID_ETH_TIER_PRIOR),
    ],
)
def test_tier_priors_sum_to_one(tiers: tuple[float, ...], prior: tuple[float, ...]) -> None:
    assert tiers[0] == 1.0
    assert len(prior) == len(tiers) - 1
    assert math.fsum(prior) == pytest.approx(1.0, abs=1e-9)


def test_model_spec_prior_is_the_default() -> None:
    assert DEFAULT_TIERS == (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
    assert dict(zip(DEFAULT_TIERS[1:], DEFAULT_TIER_PRIOR, strict=True)) == {
        2.0: 0.10,
        3.0: 0.12,
        5.0: 0.20,
        10.0: 0.22,
        20.0: 0.16,
        25.0: 0.08,
        50.0: 0.08,
        100.0: 0.04,
    }
    assert dict(zip(HYPERLIQUID_BTC_TIERS[1:], HYPERLIQUID_BTC_TIER_PRIOR, strict=True)) == {
        2.0: 0.36,
        5.0: 0.48,
        10.0: 0.10,
        20.0: 0.04,
        40.0: 0.02,
    }


def test_contract_types_feeds_and_undercounts() -> None:
    for (venue, _), params in DEFAULT_VENUE_PARAMS.items():
        expected = ContractType.INVERSE if venue == "deribit" else ContractType.LINEAR
        assert params.contract_type is expected
        assert params.has_liquidation_feed is (venue != "hyperliquid")
        if venue in {"binance", "okx"}:
            assert 1.0 < params.liquidation_undercount <= 20.0  # throttled / sampled feeds
        else:
            assert params.liquidation_undercount == 1.0
        assert params.speculative_share == 0.6


def test_hyperliquid_maintenance_is_half_initial_margin_at_max_leverage() -> None:
    for asset, max_leverage in (("BTC", 40.0), ("ETH", 25.0)):
        params = venue_params("hyperliquid", asset)
        assert params.tiers[-1] == max_leverage
        assert params.maintenance_rate == pytest.approx(1.0 / (2.0 * max_leverage))


def test_default_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_VENUE_PARAMS[("kraken", "BTC")] = ALL_DEFAULTS[0]  # type: ignore[index]


def test_venue_params_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALL_DEFAULTS[0].maintenance_rate = 0.5  # type: ignore[misc]


def test_venue_params_lookup_ignores_case() -> None:
    assert venue_params("Binance", "btc") is DEFAULT_VENUE_PARAMS[("binance", "BTC")]


def test_unknown_venue_names_supported_keys() -> None:
    with pytest.raises(UnknownVenueError) as info:
        venue_params("kraken", "BTC")
    error = info.value
    assert isinstance(error, KeyError)
    assert (error.venue, error.asset) == ("kraken", "BTC")
    message = str(error)
    assert not message.startswith("'")
    assert "kraken/BTC" in message
    for venue, asset in DEFAULT_VENUE_PARAMS:
        assert f"{venue}/{asset}" in message
    with pytest.raises(KeyError):
        venue_params("binance", "DOGE")


# --- validation ------------------------------------------------------------------------------


def custom(**overrides: Any) -> VenueParams:
    fields: dict[str, Any] = {
        "venue": "binance",
        "asset": "BTC",
        "contract_type": ContractType.LINEAR,
        "maintenance_rate": 0.004,
        "tiers": DEFAULT_TIERS,
        "tier_prior": DEFAULT_TIER_PRIOR,
    }
    return VenueParams(**{**fields, **overrides})


def test_custom_params_are_accepted() -> None:
    params = custom(speculative_share=0.0, liquidation_undercount=20.0, maintenance_rate=0.0)
    assert params.speculative_share == 0.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"venue": ""}, "non-empty"),
        ({"asset": ""}, "non-empty"),
        ({"contract_type": "linear"}, "ContractType"),
        ({"tiers": (1.0,), "tier_prior": ()}, "at least one liquidatable"),
        ({"tiers": (2.0, 3.0), "tier_prior": (1.0,)}, "first tier must be 1.0"),
        ({"tiers": (1.0, 5.0, 5.0), "tier_prior": (0.5, 0.5)}, "strictly increasing"),
        ({"tiers": (1.0, 5.0, 3.0), "tier_prior": (0.5, 0.5)}, "strictly increasing"),
        ({"tiers": (1.0, math.inf), "tier_prior": (1.0,)}, "finite"),
        ({"tiers": (1.0, math.nan), "tier_prior": (1.0,)}, "finite"),
        ({"tier_prior": DEFAULT_TIER_PRIOR[:-1]}, "one weight per liquidatable tier"),
        ({"tiers": (1.0, 2.0, 3.0), "tier_prior": (1.5, -0.5)}, ">= 0"),
        ({"tiers": (1.0, 2.0, 3.0), "tier_prior": (0.5, math.nan)}, ">= 0"),
        ({"tiers": (1.0, 2.0, 3.0), "tier_prior": (0.5, 0.49)}, "sum to 1"),
        ({"maintenance_rate": -0.001}, "maintenance_rate"),
        ({"maintenance_rate": math.nan}, "maintenance_rate"),
        ({"maintenance_rate": 0.01}, "maintenance_rate"),  # = 1/100: LP at entry for 100x
        ({"maintenance_rate": 1.0}, "maintenance_rate"),
        ({"speculative_share": 1.01}, "speculative_share"),
        ({"speculative_share": -0.1}, "speculative_share"),
        ({"speculative_share": math.nan}, "speculative_share"),
        ({"liquidation_undercount": 0.9}, "liquidation_undercount"),
        ({"liquidation_undercount": math.inf}, "liquidation_undercount"),
        ({"has_liquidation_feed": False, "liquidation_undercount": 2.0}, "no effect"),
    ],
)
def test_invalid_params_raise_value_error(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        custom(**overrides)


# --- liquidation-price factors ---------------------------------------------------------------


@pytest.mark.parametrize("params", ALL_DEFAULTS, ids=params_ids)
def test_factors_are_read_only_float64_one_per_tier(params: VenueParams) -> None:
    long_factors, short_factors = liquidation_price_factors(params)
    for factors in (long_factors, short_factors):
        assert factors.dtype == np.float64
        assert factors.shape == (len(params.tiers),)
        assert not factors.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            factors[0] = 1.0


@pytest.mark.parametrize("params", ALL_DEFAULTS, ids=params_ids)
def test_liquidatable_tiers_sit_on_the_loss_side_of_entry(params: VenueParams) -> None:
    long_factors, short_factors = liquidation_price_factors(params)
    assert np.all(long_factors[1:] > 0.0)
    assert np.all(long_factors[1:] < 1.0)
    assert np.all(short_factors[1:] > 1.0)
    assert np.all(np.isfinite(short_factors[1:]))
    # Higher leverage liquidates closer to entry.
    assert np.all(np.diff(long_factors[1:]) > 0.0)
    assert np.all(np.diff(short_factors[1:]) < 0.0)


def test_tier_one_values() -> None:
    linear_long, linear_short = liquidation_price_factors(venue_params("binance", "BTC"))
    assert linear_long[0] == 0.0
    assert linear_short[0] == pytest.approx(2.0 / 1.004)
    inverse_long, inverse_short = liquidation_price_factors(venue_params("deribit", "BTC"))
    assert inverse_long[0] == pytest.approx(1.01 / 2.0)
    assert inverse_short[0] == math.inf


@pytest.mark.parametrize(
    ("venue", "long_lp", "short_lp"),
    [
        ("binance", 95_381.5, 104_581.7),
        ("okx", 95_429.4, 104_529.6),
        ("deribit", 96_190.5, 104_210.5),
        ("hyperliquid", 96_202.5, 103_703.7),
    ],
)
def test_worked_example_of_exchange_feeds_section_7(
    venue: str, long_lp: float, short_lp: float
) -> None:
    params = venue_params(venue, "BTC")
    long_factors, short_factors = liquidation_price_factors(params)
    tier = params.tiers.index(20.0)
    assert round(100_000.0 * long_factors[tier], 1) == long_lp
    assert round(100_000.0 * short_factors[tier], 1) == short_lp


def test_bybit_entry_value_margin_differs_by_a_bounded_amount() -> None:
    # Bybit takes MM on entry value, LP = E(1 -+ 1/L +- m): the worked example's 95,500 / 104,500.
    params = venue_params("bybit", "BTC")
    long_factors, short_factors = liquidation_price_factors(params)
    tier = params.tiers.index(20.0)
    m, inv = params.maintenance_rate, 1.0 / 20.0
    bound = 100_000.0 * m * (inv - m) / (1.0 - m) + 1e-6  # exact for longs, up to rounding
    assert 0.0 < 95_500.0 - 100_000.0 * long_factors[tier] <= bound
    assert 0.0 < 104_500.0 - 100_000.0 * short_factors[tier] <= bound


leverages = st.lists(
    st.floats(min_value=1.01, max_value=200.0), min_size=1, max_size=10, unique=True
)


@given(
    extra_tiers=leverages,
    mmr_fraction=st.floats(min_value=0.0, max_value=0.99),
    contract_type=st.sampled_from(ContractType),
)
def test_factor_properties_hold_for_any_valid_params(
    extra_tiers: list[float], mmr_fraction: float, contract_type: ContractType
) -> None:
    tiers = (1.0, *sorted(extra_tiers))
    params = VenueParams(
        venue="test",
        asset="BTC",
        contract_type=contract_type,
        maintenance_rate=mmr_fraction / tiers[-1],
        tiers=tiers,
        tier_prior=(1.0 / len(extra_tiers),) * len(extra_tiers),
    )
    long_factors, short_factors = liquidation_price_factors(params)
    assert np.all((long_factors[1:] > 0.0) & (long_factors[1:] < 1.0))
    assert np.all((short_factors[1:] > 1.0) & np.isfinite(short_factors[1:]))
