"""Typed per-venue parameters for the liquidation ledger (model-spec §5).

The ledger needs, per (venue, asset): the contract type (it decides the liquidation-price
form), the first-tier maintenance margin rate, the effective-leverage tiers with their prior
weights, and how far to trust the venue's liquidation feed. The defaults below are only
starting points: exchanges change margin tables often, so every value is overridable by
constructing a :class:`VenueParams`, and the sources and confidence of each default are
listed next to it and in ``docs/venue-defaults.md``.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray


class ContractType(StrEnum):
    """Linear (USD-margined, base-unit size) or inverse (coin-margined, USD face)."""

    LINEAR = "linear"
    INVERSE = "inverse"


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueParams:
    """Ledger parameters for one (venue, asset).

    ``tiers`` are effective leverages; the first must be 1.0, the hedged / never-liquidated
    share. ``tier_prior`` weights the *liquidatable* tiers (``tiers[1:]``) and sums to 1;
    tier 1 gets ``1 − speculative_share`` of new mass and the rest gets
    ``speculative_share · tier_prior``. ``liquidation_undercount`` multiplies observed
    liquidations of throttled or sampled feeds. With ``has_liquidation_feed=False`` the
    ledger treats all crossed mass as liquidated, so the undercount must stay 1.

    ``maintenance_rate`` must be below ``1 / max(tiers)``: otherwise the highest tier would
    be liquidated at or beyond its entry price, which no venue allows.
    """

    venue: str
    asset: str
    contract_type: ContractType
    maintenance_rate: float
    tiers: tuple[float, ...]
    tier_prior: tuple[float, ...]
    speculative_share: float = 0.6
    liquidation_undercount: float = 1.0
    has_liquidation_feed: bool = True

    def __post_init__(self) -> None:
        where = f"VenueParams({self.venue!r}, {self.asset!r})"
        if not self.venue or not self.asset:
            raise ValueError(f"{where}: venue and asset must be non-empty")
        if not isinstance(self.contract_type, ContractType):
            raise ValueError(
                f"{where}: contract_type must be a ContractType, got {self.contract_type!r}"
            )
        _check_tiers(where, self.tiers, self.tier_prior)
        m = self.maintenance_rate
        if not math.isfinite(m) or not 0.0 <= m < 1.0 / self.tiers[-1]:
            raise ValueError(
                f"{where}: maintenance_rate must be finite and in [0, 1/{self.tiers[-1]:g}) "
                f"so every liquidatable tier has a liquidation price on the loss side of "
                f"entry, got {m!r}"
            )
        if not math.isfinite(self.speculative_share) or not 0.0 <= self.speculative_share <= 1.0:
            raise ValueError(
                f"{where}: speculative_share must be in [0, 1], got {self.speculative_share!r}"
            )
        if not math.isfinite(self.liquidation_undercount) or self.liquidation_undercount < 1.0:
            raise ValueError(
                f"{where}: liquidation_undercount must be finite and >= 1, "
                f"got {self.liquidation_undercount!r}"
            )
        if not self.has_liquidation_feed and self.liquidation_undercount != 1.0:
            raise ValueError(
                f"{where}: liquidation_undercount has no effect without a liquidation feed; "
                "leave it at 1"
            )


def _check_tiers(where: str, tiers: tuple[float, ...], prior: tuple[float, ...]) -> None:
    if len(tiers) < 2:
        raise ValueError(f"{where}: tiers needs 1.0 plus at least one liquidatable tier")
    if not all(math.isfinite(t) for t in tiers):
        raise ValueError(f"{where}: tiers must be finite, got {tiers!r}")
    if tiers[0] != 1.0:
        raise ValueError(f"{where}: the first tier must be 1.0 (hedged share), got {tiers[0]!r}")
    if any(b <= a for a, b in pairwise(tiers)):
        raise ValueError(f"{where}: tiers must be strictly increasing, got {tiers!r}")
    if len(prior) != len(tiers) - 1:
        raise ValueError(
            f"{where}: tier_prior needs one weight per liquidatable tier "
            f"({len(tiers) - 1}), got {len(prior)}"
        )
    if not all(math.isfinite(w) and w >= 0.0 for w in prior):
        raise ValueError(f"{where}: tier_prior weights must be finite and >= 0, got {prior!r}")
    total = math.fsum(prior)
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{where}: tier_prior must sum to 1 (within 1e-9), got {total!r}")


#: CEX effective-leverage tiers and prior (model-spec §5; cascade-research §4.3).
DEFAULT_TIERS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0, 100.0)
DEFAULT_TIER_PRIOR: tuple[float, ...] = (0.10, 0.12, 0.20, 0.22, 0.16, 0.08, 0.08, 0.04)

#: Deribit caps BTC/ETH at 50x (IM 2 %), and with MMR 1 % a 100x tier would be liquidated at
#: entry. The 100x weight moves to 50x: traders who want maximum leverage take the cap.
DERIBIT_TIERS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 25.0, 50.0)
DERIBIT_TIER_PRIOR: tuple[float, ...] = (0.10, 0.12, 0.20, 0.22, 0.16, 0.08, 0.12)

#: Hyperliquid's own set; BTC caps at 40x. Prior from the Dec-2025 OI-by-leverage snapshot
#: (cascade-research §4.3).
HYPERLIQUID_BTC_TIERS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)
HYPERLIQUID_BTC_TIER_PRIOR: tuple[float, ...] = (0.36, 0.48, 0.10, 0.04, 0.02)

#: ETH on Hyperliquid caps at 25x. The BTC snapshot's max-leverage bucket (40x) moves to the
#: ETH cap; 20x stays its own tier because round leverages are what users pick below the cap.
HYPERLIQUID_ETH_TIERS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 25.0)
HYPERLIQUID_ETH_TIER_PRIOR: tuple[float, ...] = HYPERLIQUID_BTC_TIER_PRIOR

#: Default undercount for throttled / sampled liquidation feeds (Binance forceOrder keeps one
#: order per symbol per second; OKX says its feed is not the total). Deliberately low: too
#: high a factor deletes real fuel near the price and hides risk, too low only keeps
#: liquidated mass as fuel. Replaced by the rolling estimate of cascade-research §4.5
#: (clipped to [1, 20]) once calibration has data. An assumption, not a measurement.
THROTTLED_FEED_UNDERCOUNT = 2.0


_DEFAULTS: tuple[VenueParams, ...] = (
    # Binance USD-M BTCUSDT: bracket 1 (0-50k notional) MMR 0.40 %, from saved leverageBracket
    # responses and the reverse-engineered bracket table; historical, UNCONFIRMED today (the
    # endpoint is signed). forceOrder is throttled.
    VenueParams(
        venue="binance",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.004,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
        liquidation_undercount=THROTTLED_FEED_UNDERCOUNT,
    ),
    # Binance ETHUSDT: UNCONFIRMED, assumed equal to BTCUSDT. The 0.65 % in Binance's docs
    # example belongs to an account with adjusted brackets (notionalCoef).
    VenueParams(
        venue="binance",
        asset="ETH",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.004,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
        liquidation_undercount=THROTTLED_FEED_UNDERCOUNT,
    ),
    # Bybit linear BTCUSDT: lowest risk-limit tier MMR 0.5 %, per third-party SDK docs and the
    # docs' inverse example ("0.5", in percent); UNCONFIRMED for linear today. Bybit takes MM
    # on entry value, so its LPs sit up to m(1/l - m)/(1 - m) of entry above the model's
    # (2.3 bp at 20x, both sides). allLiquidation carries every liquidation: no undercount.
    VenueParams(
        venue="bybit",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.005,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
    ),
    # Bybit ETHUSDT: UNCONFIRMED, assumed equal to BTCUSDT.
    VenueParams(
        venue="bybit",
        asset="ETH",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.005,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
    ),
    # OKX BTC-USDT-SWAP: 0.45 % = tier-1 MMR 0.40 % (UNCONFIRMED) + 0.05 % taker fee, because
    # OKX's liquidation condition counts the fee to close (exchange-feeds §4.5, UNCONFIRMED
    # formula); with it the model's form is OKX's exactly. The feed is sampled.
    VenueParams(
        venue="okx",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.0045,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
        liquidation_undercount=THROTTLED_FEED_UNDERCOUNT,
    ),
    # OKX ETH-USDT-SWAP: UNCONFIRMED, assumed equal to BTC-USDT-SWAP.
    VenueParams(
        venue="okx",
        asset="ETH",
        contract_type=ContractType.LINEAR,
        maintenance_rate=0.0045,
        tiers=DEFAULT_TIERS,
        tier_prior=DEFAULT_TIER_PRIOR,
        liquidation_undercount=THROTTLED_FEED_UNDERCOUNT,
    ),
    # Deribit BTC-PERPETUAL (inverse): MM = 1 % + size_BTC x 0.005 %; the 1 % base is stated
    # by the official "11 January 2022" support notice (confirmed; current value UNCONFIRMED).
    # Liquidation-flagged public trades are a complete tape: no undercount.
    VenueParams(
        venue="deribit",
        asset="BTC",
        contract_type=ContractType.INVERSE,
        maintenance_rate=0.01,
        tiers=DERIBIT_TIERS,
        tier_prior=DERIBIT_TIER_PRIOR,
    ),
    # Deribit ETH-PERPETUAL (inverse): MM = 1 % + size_ETH x 0.0004 %, same notice.
    VenueParams(
        venue="deribit",
        asset="ETH",
        contract_type=ContractType.INVERSE,
        maintenance_rate=0.01,
        tiers=DERIBIT_TIERS,
        tier_prior=DERIBIT_TIER_PRIOR,
    ),
    # Hyperliquid BTC: MMR = 1/(2 x max leverage) = 1.25 % at 40x (docs trading/liquidations
    # and margin-tiers, quoted by HIP-3 deployer docs; confirmed). No public market-wide
    # liquidation feed.
    VenueParams(
        venue="hyperliquid",
        asset="BTC",
        contract_type=ContractType.LINEAR,
        maintenance_rate=1.0 / (2.0 * 40.0),
        tiers=HYPERLIQUID_BTC_TIERS,
        tier_prior=HYPERLIQUID_BTC_TIER_PRIOR,
        has_liquidation_feed=False,
    ),
    # Hyperliquid ETH: 1/(2 x 25) = 2 % (ETH max 25x up to 100M notional; confirmed).
    VenueParams(
        venue="hyperliquid",
        asset="ETH",
        contract_type=ContractType.LINEAR,
        maintenance_rate=1.0 / (2.0 * 25.0),
        tiers=HYPERLIQUID_ETH_TIERS,
        tier_prior=HYPERLIQUID_ETH_TIER_PRIOR,
        has_liquidation_feed=False,
    ),
)

DEFAULT_VENUE_PARAMS: Mapping[tuple[str, str], VenueParams] = MappingProxyType(
    {(p.venue, p.asset): p for p in _DEFAULTS}
)
"""Built-in defaults keyed by (venue, asset); read-only so no caller can change them for all."""


class UnknownVenueError(KeyError):
    """No default parameters for this (venue, asset); the message names the supported keys.

    A ``KeyError`` because it is a failed lookup in :data:`DEFAULT_VENUE_PARAMS`.
    """

    def __init__(self, venue: str, asset: str) -> None:
        supported = ", ".join(f"{v}/{a}" for v, a in sorted(DEFAULT_VENUE_PARAMS))
        self.venue = venue
        self.asset = asset
        self.message = f"no default parameters for {venue}/{asset}; supported: {supported}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return self.message


def venue_params(venue: str, asset: str) -> VenueParams:
    """Default parameters for ``venue`` (any case, e.g. "binance") and ``asset`` ("BTC")."""
    try:
        return DEFAULT_VENUE_PARAMS[(venue.lower(), asset.upper())]
    except KeyError:
        raise UnknownVenueError(venue, asset) from None


def liquidation_price_factors(
    params: VenueParams,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per tier, liquidation price over entry price (LP/E) for longs and for shorts.

    Isolated margin, first-tier maintenance rate m, leverage ℓ (model-spec §5):
    linear long (1 − 1/ℓ)/(1 − m), short (1 + 1/ℓ)/(1 + m); inverse long
    (1 + m)/(1 + 1/ℓ), short (1 − m)/(1 − 1/ℓ).

    Tier 1 (``tiers[0]``) is the hedged share and is never liquidated: the ledger must not
    cross it. Its values are still the formulas' (linear long 0, i.e. unreachable), except
    the inverse short, which divides by zero at ℓ = 1 and is returned as +inf. Both arrays
    are float64 and read-only so they can be shared and cached safely.
    """
    inv_lev = 1.0 / np.asarray(params.tiers, dtype=np.float64)
    m = params.maintenance_rate
    if params.contract_type is ContractType.LINEAR:
        long_factors = (1.0 - inv_lev) / (1.0 - m)
        short_factors = (1.0 + inv_lev) / (1.0 + m)
    else:
        long_factors = (1.0 + m) / (1.0 + inv_lev)
        # tiers[0] == 1.0 is validated, so only the first entry has a zero denominator.
        short_factors = np.concatenate(([np.inf], (1.0 - m) / (1.0 - inv_lev[1:])))
    long_factors.setflags(write=False)
    short_factors.setflags(write=False)
    return long_factors, short_factors
