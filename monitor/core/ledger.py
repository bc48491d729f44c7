"""The liquidation ledger (model-spec §5): positions inferred from open interest and price.

State per (venue, symbol) is a dense array of base quantity Q[side, tier, entry]: two
sides, the venue's leverage tiers, and entry prices on a 5 bp log grid anchored at start.
Each open-interest observation

1. consumes crossed cohorts (liquidation price inside the interval's mark range) using the
   observed liquidations, and demotes the survivors to the next lower tier;
2. reconciles the side with open interest: net opens are spread over the traded range and
   the tiers, net closes are removed pro rata — *both* sides, because every contract has
   a long and a short.

After every update Σ Q(long) = Σ Q(short) = tracked OI. A second array tracks how much of
each cohort is "legacy" mass of unknown origin (the OI present at start-up, or that
appeared across a data gap); coverage = 1 − legacy / OI.

The grid re-centres itself (by whole entry bins, mass conserved) when the mark drifts
towards an edge, so a ledger can run for months without growing.

`Ledger.to_state` / `Ledger.from_state` turn a ledger into a plain, immutable value and
back (bit for bit), so the daemon can write snapshots and resume after a restart; the
file format lives outside the core, in `monitor.persist`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from monitor.core.bins import BinGrid, Direction, FloatArray, bin_index
from monitor.core.venues import ContractType, VenueParams, liquidation_price_factors

ENTRY_BIN = 0.0005
"""Width of the entry grid in natural-log distance (5 bp)."""
ENTRY_BINS = 2048
"""Entry grid size: ±51 % of log distance around the anchor before re-centring."""
RECENTRE_MARGIN = ENTRY_BINS // 4
"""Re-centre once the mark is closer than this many entry bins to an edge."""
ANOMALY_OI_CHANGE = 0.20
ANOMALY_PRICE_CHANGE = 0.01
ANOMALY_CONFIRMATIONS = 3
"""Consecutive anomalous observations after which the new OI level is accepted as legacy."""
SMEAR_SCALE = 0.15
SMEAR_TRUNCATION = 3.0

LONG, SHORT = 0, 1

ComplexArray = npt.NDArray[np.complex128]


class Outcome(StrEnum):
    """What an observation did to the ledger."""

    APPLIED = "applied"
    ANOMALY = "anomaly"
    """Skipped: OI moved > 20 % while price moved < 1 % (model-spec §5 sanity rule)."""
    REBASELINED = "rebaselined"
    """Applied after a gap or a confirmed anomaly: the OI change is of unknown origin."""


class InvalidObservationError(ValueError):
    """An observation the ledger refuses; `reason` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class IncompatibleStateError(ValueError):
    """A `LedgerState` that cannot become a ledger; `reason` is a short label for reports.

    Raised for state that does not fit the venue parameters (other tiers, contract type
    or entry grid) and for state that breaks the ledger's invariants (non-finite or
    negative values, a bad live window, sides that do not sum to the open interest).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class LedgerState:
    """Everything needed to rebuild a `Ledger` exactly: plain scalars and read-only arrays.

    Only the live window of entry bins [lo, hi) is kept: outside it the ledger holds no
    mass by construction, so `quantity` and `legacy` have shape (2, tiers, hi − lo).
    `tiers`, `contract_type`, `entry_bin` and `entry_bins` describe what the cohorts
    mean; `Ledger.from_state` refuses state whose description differs from its params.
    The value shares nothing with the ledger it came from.
    """

    tiers: tuple[float, ...]
    contract_type: str
    entry_bin: float
    entry_bins: int
    anchor_log: float
    lo: int
    hi: int
    quantity: FloatArray
    legacy: FloatArray
    open_interest: float
    mark_price: float
    anomalies: int
    pending_anomalies: int
    gap: bool


STATE_BALANCE_TOLERANCE = 1e-7
"""Relative tolerance of Σ Q(side) = OI when validating restored state (summation order)."""


def _check_state(params: VenueParams, state: LedgerState) -> None:
    """Raise `IncompatibleStateError` unless `state` fits `params` and the invariants."""
    _check_state_layout(params, state)
    _check_state_values(state)


def _check_state_layout(params: VenueParams, state: LedgerState) -> None:
    """What the cohorts mean and where they sit must match the params and this build."""
    if tuple(state.tiers) != tuple(params.tiers):
        raise IncompatibleStateError(
            "tiers", f"state has tiers {state.tiers!r}, params have {params.tiers!r}"
        )
    if state.contract_type != params.contract_type.value:
        raise IncompatibleStateError(
            "contract_type",
            f"state is {state.contract_type!r}, params are {params.contract_type.value!r}",
        )
    if state.entry_bin != ENTRY_BIN or state.entry_bins != ENTRY_BINS:
        raise IncompatibleStateError(
            "entry_grid",
            f"state grid {state.entry_bins} x {state.entry_bin!r}, "
            f"this build uses {ENTRY_BINS} x {ENTRY_BIN!r}",
        )
    counts = (state.lo, state.hi, state.anomalies, state.pending_anomalies)
    if not all(type(v) is int for v in counts) or type(state.gap) is not bool:
        raise IncompatibleStateError("types", "window, counters or gap flag of the wrong type")
    if not 0 <= state.lo <= state.hi <= ENTRY_BINS:
        raise IncompatibleStateError(
            "window", f"live window [{state.lo}, {state.hi}) outside [0, {ENTRY_BINS})"
        )
    shape = (2, len(params.tiers), state.hi - state.lo)
    for name, array in (("quantity", state.quantity), ("legacy", state.legacy)):
        if not isinstance(array, np.ndarray) or array.dtype != np.float64:
            raise IncompatibleStateError("dtype", f"{name} must be a float64 array")
        if array.shape != shape:
            raise IncompatibleStateError(
                "shape", f"{name} has shape {array.shape}, expected {shape}"
            )


def _check_state_values(state: LedgerState) -> None:
    """Finite, non-negative, balanced: the invariants of model-spec §5 hold."""
    for name, array in (("quantity", state.quantity), ("legacy", state.legacy)):
        if not np.isfinite(array).all():
            raise IncompatibleStateError("non_finite", f"{name} holds NaN or infinity")
        if (array < 0.0).any():
            raise IncompatibleStateError("negative_size", f"{name} holds negative quantities")
    if (state.legacy > state.quantity * (1.0 + 1e-9) + 1e-12).any():
        raise IncompatibleStateError("legacy_excess", "legacy mass exceeds a cohort's quantity")
    scalars = (state.anchor_log, state.open_interest, state.mark_price)
    if not all(math.isfinite(v) for v in scalars):
        raise IncompatibleStateError("non_finite", "anchor, open interest or mark not finite")
    if state.open_interest < 0.0 or state.mark_price <= 0.0:
        raise IncompatibleStateError("negative_size", "negative open interest or price <= 0")
    if state.anomalies < 0 or not 0 <= state.pending_anomalies < ANOMALY_CONFIRMATIONS:
        raise IncompatibleStateError("counters", "anomaly counters out of range")
    if state.lo == state.hi and state.open_interest > 0.0:
        raise IncompatibleStateError("unbalanced", "open interest without any cohort")
    for side, label in ((LONG, "long"), (SHORT, "short")):
        total = float(state.quantity[side].sum())
        if not math.isclose(
            total, state.open_interest, rel_tol=STATE_BALANCE_TOLERANCE, abs_tol=1e-12
        ):
            raise IncompatibleStateError(
                "unbalanced",
                f"{label} quantities sum to {total!r}, open interest is {state.open_interest!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class OiObservation:
    """One open-interest observation and what happened since the previous one.

    Quantities are base units; prices are mark prices. `low`/`high` span the interval's
    marks, endpoints included. Liquidations are of *positions* of that side. Traded
    prices and quantities, when known, shape where new positions were opened.
    """

    open_interest: float
    mark_price: float
    low: float
    high: float
    liquidated_long: float = 0.0
    liquidated_short: float = 0.0
    trade_prices: FloatArray | None = None
    trade_quantities: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """Accounting of one update, per side (long, short), in base units."""

    outcome: Outcome
    crossed: tuple[float, float] = (0.0, 0.0)
    liquidated: tuple[float, float] = (0.0, 0.0)
    opened: tuple[float, float] = (0.0, 0.0)
    closed: tuple[float, float] = (0.0, 0.0)


def _check_observation(obs: OiObservation) -> None:
    values = (obs.open_interest, obs.mark_price, obs.low, obs.high)
    liquidated = (obs.liquidated_long, obs.liquidated_short)
    if not all(math.isfinite(v) for v in (*values, *liquidated)):
        raise InvalidObservationError("non_finite", "observation holds NaN or infinity")
    if obs.open_interest < 0.0 or min(liquidated) < 0.0:
        raise InvalidObservationError("negative_size", "negative open interest or liquidation")
    if min(obs.mark_price, obs.low, obs.high) <= 0.0:
        raise InvalidObservationError("non_positive_price", "prices must be > 0")
    if not obs.low <= obs.mark_price <= obs.high:
        raise InvalidObservationError("bad_range", "mark price outside [low, high]")
    if (obs.trade_prices is None) != (obs.trade_quantities is None):
        raise InvalidObservationError("bad_trades", "trade prices and quantities go together")
    if obs.trade_prices is not None and obs.trade_quantities is not None:
        prices, quantities = obs.trade_prices, obs.trade_quantities
        if prices.shape != quantities.shape:
            raise InvalidObservationError("bad_trades", "trade arrays differ in shape")
        if not (np.isfinite(prices).all() and np.isfinite(quantities).all()):
            raise InvalidObservationError("non_finite", "trades hold NaN or infinity")
        if (prices <= 0.0).any() or (quantities < 0.0).any():
            raise InvalidObservationError("negative_size", "trades with bad price or size")


class Ledger:
    """Cohorts of one venue and symbol; the single owner of its arrays (not thread-safe).

    Work is confined to the live window of entry bins [lo, hi) that can hold mass, so an
    update costs what the traded range costs, not what the whole grid would.
    """

    def __init__(self, params: VenueParams, anchor_price: float) -> None:
        if not (math.isfinite(anchor_price) and anchor_price > 0.0):
            msg = f"anchor price must be positive and finite, got {anchor_price!r}"
            raise ValueError(msg)
        self.params = params
        tiers = len(params.tiers)
        self._quantity = np.zeros((2, tiers, ENTRY_BINS))
        self._legacy = np.zeros((2, tiers, ENTRY_BINS))
        long_factor, short_factor = liquidation_price_factors(params)
        self._lp_factor = np.stack([long_factor, short_factor])
        self._lp_factor.setflags(write=False)
        # Tiers that can be liquidated and carry fuel: LP finite and positive (so not the
        # linear long / inverse short of tier 1), and never tier 1 itself.
        self._fuel_tiers = [
            np.flatnonzero(np.isfinite(row) & (row > 0.0) & (np.arange(tiers) > 0))
            for row in self._lp_factor
        ]
        theta = params.speculative_share
        self._tier_weights = np.concatenate(([1.0 - theta], theta * np.asarray(params.tier_prior)))
        self._anchor_log = 0.0
        self._entry_price = np.empty(ENTRY_BINS)
        self._set_anchor(math.log(anchor_price))
        self._lo, self._hi = ENTRY_BINS // 2, ENTRY_BINS // 2
        self.open_interest = 0.0
        self.mark_price = anchor_price
        self.anomalies = 0
        self._pending_anomalies = 0
        self._gap = True  # nothing observed yet: the first OI seen is of unknown origin

    # ----------------------------------------------------------------- grid helpers

    def _set_anchor(self, anchor_log: float) -> None:
        self._anchor_log = anchor_log
        offsets = np.arange(ENTRY_BINS, dtype=np.float64) - ENTRY_BINS // 2
        self._entry_price = np.exp(anchor_log + offsets * ENTRY_BIN)

    def _entry_index(self, price: float) -> int:
        raw = round((math.log(price) - self._anchor_log) / ENTRY_BIN) + ENTRY_BINS // 2
        return min(max(raw, 0), ENTRY_BINS - 1)

    def liquidation_prices(self) -> FloatArray:
        """LP[side, tier, entry] of every cohort (linear or inverse, per the venue)."""
        return self._lp_factor[:, :, None] * self._entry_price[None, None, :]

    def _recentre(self, price: float) -> None:
        """Shift the grid by whole bins so `price` sits in the middle; edge mass is kept."""
        index = round((math.log(price) - self._anchor_log) / ENTRY_BIN) + ENTRY_BINS // 2
        if RECENTRE_MARGIN <= index < ENTRY_BINS - RECENTRE_MARGIN:
            return
        shift = index - ENTRY_BINS // 2
        for array in (self._quantity, self._legacy):
            moved = np.zeros_like(array)
            if abs(shift) >= ENTRY_BINS:
                edge = ENTRY_BINS - 1 if shift < 0 else 0
                moved[:, :, edge] = array.sum(axis=2)
            elif shift > 0:
                moved[:, :, : ENTRY_BINS - shift] = array[:, :, shift:]
                moved[:, :, 0] += array[:, :, :shift].sum(axis=2)
            else:
                moved[:, :, -shift:] = array[:, :, : ENTRY_BINS + shift]
                moved[:, :, -1] += array[:, :, ENTRY_BINS + shift :].sum(axis=2)
            array[...] = moved
        self._set_anchor(self._anchor_log + shift * ENTRY_BIN)
        if self._lo < self._hi:
            self._lo = min(max(self._lo - shift, 0), ENTRY_BINS - 1)
            self._hi = max(min(self._hi - shift, ENTRY_BINS), self._lo + 1)

    # ----------------------------------------------------------------- state views

    def side_totals(self) -> tuple[float, float]:
        """Σ Q of longs and of shorts (base units)."""
        totals = self._quantity[:, :, self._lo : self._hi].sum(axis=(1, 2))
        if totals.shape[0] == 0 or self._lo >= self._hi:
            return 0.0, 0.0
        return float(totals[LONG]), float(totals[SHORT])

    @property
    def legacy(self) -> float:
        """Legacy mass of the side holding more of it.

        Opens, closes and gaps change both sides alike, but crossing and liquidations take
        legacy mass from one side only; the larger keeps coverage the worse side's.
        """
        return float(self._legacy[:, :, self._lo : self._hi].sum(axis=(1, 2)).max())

    @property
    def coverage(self) -> float:
        """Share of open interest whose origin the ledger has observed: 1 − legacy / OI."""
        if self.open_interest <= 0.0:
            return 1.0
        return min(1.0, max(0.0, 1.0 - self.legacy / self.open_interest))

    @property
    def live_cohorts(self) -> int:
        """Number of cohorts holding mass."""
        return int(np.count_nonzero(self._quantity[:, :, self._lo : self._hi]))

    @property
    def nbytes(self) -> int:
        """Memory held by the ledger's arrays."""
        return self._quantity.nbytes + self._legacy.nbytes + self._entry_price.nbytes

    def quantities(self) -> FloatArray:
        """A read-only copy of Q[side, tier, entry]."""
        copy = self._quantity.copy()
        copy.setflags(write=False)
        return copy

    # ----------------------------------------------------------------- state

    def to_state(self) -> LedgerState:
        """An independent, immutable copy of the ledger (model-spec §5 state).

        Call it from the ledger's owner; the value it returns can then be written from
        any thread while the ledger keeps changing.
        """
        window = slice(self._lo, self._hi)
        quantity = self._quantity[:, :, window].copy()
        legacy = self._legacy[:, :, window].copy()
        quantity.setflags(write=False)
        legacy.setflags(write=False)
        return LedgerState(
            tiers=tuple(self.params.tiers),
            contract_type=self.params.contract_type.value,
            entry_bin=ENTRY_BIN,
            entry_bins=ENTRY_BINS,
            anchor_log=float(self._anchor_log),
            lo=int(self._lo),
            hi=int(self._hi),
            quantity=quantity,
            legacy=legacy,
            open_interest=float(self.open_interest),
            mark_price=float(self.mark_price),
            anomalies=int(self.anomalies),
            pending_anomalies=int(self._pending_anomalies),
            gap=bool(self._gap),
        )

    @classmethod
    def from_state(cls, params: VenueParams, state: LedgerState) -> Ledger:
        """Rebuild the ledger `state` was taken from, under `params`.

        The result behaves exactly like the original: the same observations give the same
        arrays and the same fuel. Other maintenance rates, tier priors or undercounts are
        accepted (they change what happens next, not what the cohorts are); other tiers,
        contract type or entry grid are not. Raises `IncompatibleStateError`.
        """
        _check_state(params, state)
        ledger = cls(params, state.mark_price)
        ledger._load(state)
        return ledger

    def _load(self, state: LedgerState) -> None:
        """Become exactly the ledger `state` was taken from (a checked, fitting state)."""
        self._set_anchor(state.anchor_log)
        for array, window in ((self._quantity, state.quantity), (self._legacy, state.legacy)):
            array[...] = 0.0
            array[:, :, state.lo : state.hi] = window
        self._lo, self._hi = state.lo, state.hi
        self.open_interest = state.open_interest
        self.mark_price = state.mark_price
        self.anomalies = state.anomalies
        self._pending_anomalies = state.pending_anomalies
        self._gap = state.gap

    # ----------------------------------------------------------------- updates

    def _entry_kernel(self, obs: OiObservation) -> tuple[int, FloatArray]:
        """Where new positions opened: (first entry bin, weights summing to 1)."""
        lo, hi = self._entry_index(obs.low), self._entry_index(obs.high)
        if obs.trade_prices is not None and obs.trade_quantities is not None:
            peak = float(obs.trade_quantities.max(initial=0.0))
            if peak > 0.0:
                # Relative to the largest trade: finite volumes near the float maximum
                # would sum to inf and turn every weight into NaN.
                volume = obs.trade_quantities / peak
                logs = np.log(obs.trade_prices) - self._anchor_log
                index = np.rint(logs / ENTRY_BIN).astype(np.int64) + ENTRY_BINS // 2
                index = np.clip(index, 0, ENTRY_BINS - 1)
                lo, hi = min(lo, int(index.min())), max(hi, int(index.max()))
                weights = np.bincount(index - lo, weights=volume, minlength=hi - lo + 1)
                return lo, weights / weights.sum()
        return lo, np.full(hi - lo + 1, 1.0 / (hi - lo + 1))

    def cold_start(self, open_interest: float, mark_price: float, low: float, high: float) -> None:
        """Place start-up OI as legacy mass over the recent range [low, high] (model-spec §5).

        The same tier weights as for new positions apply; coverage starts at 0 and rises
        as observed flow replaces the legacy mass.
        """
        obs = OiObservation(open_interest=open_interest, mark_price=mark_price, low=low, high=high)
        _check_observation(obs)
        self._recentre(mark_price)
        start, kernel = self._entry_kernel(obs)
        for side in (LONG, SHORT):
            present = float(self._quantity[side, :, self._lo : self._hi].sum())
            self._open(side, open_interest - present, start, kernel, unknown_origin=True)
        self.open_interest = open_interest
        self.mark_price = mark_price
        self._gap = False

    def note_gap(self) -> None:
        """The feed lost data: the next OI change is of unknown origin, not new positions."""
        self._gap = True

    def apply(self, obs: OiObservation) -> UpdateResult:
        """Fold one OI observation into the ledger (model-spec §5 steps 1-3).

        All or nothing: should anything raise half-way, the ledger is put back as it was,
        never left with sides that no longer balance. The copy this takes is of the live
        window only: 6-10 µs, 5-10 % of an update (a 264-bin window, SIMULATED random walk).
        """
        _check_observation(obs)
        before = self.to_state()
        try:
            return self._update(obs)
        except BaseException:
            self._load(before)
            raise

    def _update(self, obs: OiObservation) -> UpdateResult:
        previous_oi, previous_mark = self.open_interest, self.mark_price
        unknown_origin = self._gap
        if previous_oi > 0.0 and not unknown_origin:
            oi_change = abs(obs.open_interest - previous_oi) / previous_oi
            price_change = abs(obs.mark_price - previous_mark) / previous_mark
            if oi_change > ANOMALY_OI_CHANGE and price_change < ANOMALY_PRICE_CHANGE:
                self.anomalies += 1
                self._pending_anomalies += 1
                if self._pending_anomalies < ANOMALY_CONFIRMATIONS:
                    return UpdateResult(Outcome.ANOMALY)
                unknown_origin = True
        self._pending_anomalies = 0
        self._gap = False
        self._recentre(obs.mark_price)

        crossed, liquidated = self._consume(obs)
        start, kernel = self._entry_kernel(obs)
        opened, closed = [0.0, 0.0], [0.0, 0.0]
        for side in (LONG, SHORT):
            # R = ΔOI + liquidated, computed against the live sum so float drift cannot build.
            present = float(self._quantity[side, :, self._lo : self._hi].sum())
            residual = obs.open_interest - present
            if residual > 0.0:
                self._open(side, residual, start, kernel, unknown_origin=unknown_origin)
                opened[side] = residual
            elif residual < 0.0:
                self._close(side, obs.open_interest, present)
                closed[side] = -residual
        self.open_interest = obs.open_interest
        self.mark_price = obs.mark_price
        return UpdateResult(
            outcome=Outcome.REBASELINED if unknown_origin else Outcome.APPLIED,
            crossed=(crossed[0], crossed[1]),
            liquidated=(liquidated[0], liquidated[1]),
            opened=(opened[0], opened[1]),
            closed=(closed[0], closed[1]),
        )

    def _consume(self, obs: OiObservation) -> tuple[list[float], list[float]]:
        """Step 1: liquidate crossed cohorts, demote survivors, take excess from the nearest."""
        window = slice(self._lo, self._hi)
        lp = self._lp_factor[:, :, None] * self._entry_price[None, None, window]
        observed = (obs.liquidated_long, obs.liquidated_short)
        crossed_totals, liquidated_totals = [0.0, 0.0], [0.0, 0.0]
        for side in (LONG, SHORT):
            mask = lp[side] >= obs.low if side == LONG else lp[side] <= obs.high
            mask[0] = False  # tier 1 is the hedged share: never liquidated
            quantity = self._quantity[side, :, window]
            legacy = self._legacy[side, :, window]
            crossed = float(quantity[mask].sum())
            if self.params.has_liquidation_feed:
                wanted = observed[side] * self.params.liquidation_undercount
            else:
                wanted = crossed
            wanted = min(wanted, float(quantity.sum()))
            crossed_totals[side] = crossed
            if crossed > 0.0:
                survival = 1.0 - min(1.0, wanted / crossed)
                # Survivors of every crossed tier land in the highest uncrossed tier below:
                # crossing is monotone in leverage, and tier 1 never crosses.
                target = (~mask).sum(axis=0) - 1
                entries = np.flatnonzero(mask.any(axis=0))
                for array in (quantity, legacy):
                    survivors = survival * np.where(mask, array, 0.0).sum(axis=0)
                    array[mask] = 0.0
                    array[target[entries], entries] += survivors[entries]
            excess = wanted - crossed
            if excess > 0.0:
                self._take_nearest(side, excess, obs.low, obs.high)
            liquidated_totals[side] = wanted
        return crossed_totals, liquidated_totals

    def _take_nearest(self, side: int, amount: float, low: float, high: float) -> None:
        """Remove `amount` from uncrossed cohorts nearest the interval's extreme first.

        Nearest means the highest liquidation price below the low (longs) or the lowest
        above the high (shorts); equal prices share the cut pro rata. Tier 1 (LP 0 for
        linear longs, +inf for inverse shorts) sorts last. An amount at or beyond the side's
        running total (rounding can put it a hair above) empties the side: the cut then has
        a group of positive mass to share, never one that rounds to 0.
        """
        quantity = self._quantity[side].reshape(-1)  # contiguous: views, not copies
        legacy = self._legacy[side].reshape(-1)
        tiers, entries = np.nonzero(self._quantity[side, :, self._lo : self._hi])
        entries += self._lo
        flat = tiers * ENTRY_BINS + entries
        lp = self._lp_factor[side, tiers] * self._entry_price[entries]
        key = -lp if side == LONG else lp  # ascending key = nearest first
        order = np.argsort(key)
        sorted_key = key[order]
        cumulative = np.cumsum(quantity[flat[order]])
        if order.shape[0] == 0 or amount >= cumulative[-1]:
            for array in (quantity, legacy):
                array[flat] = 0.0
            return
        cut = int(np.searchsorted(cumulative, amount, side="left"))
        tie_lo = int(np.searchsorted(sorted_key, sorted_key[cut], side="left"))
        tie_hi = int(np.searchsorted(sorted_key, sorted_key[cut], side="right"))
        removed_before = float(cumulative[tie_lo - 1]) if tie_lo > 0 else 0.0
        tie_mass = float(cumulative[tie_hi - 1]) - removed_before
        keep = max(0.0, 1.0 - (amount - removed_before) / tie_mass)
        gone, shared = flat[order[:tie_lo]], flat[order[tie_lo:tie_hi]]
        for array in (quantity, legacy):
            array[gone] = 0.0
            array[shared] *= keep

    def _open(
        self, side: int, amount: float, start: int, kernel: FloatArray, *, unknown_origin: bool
    ) -> None:
        """Step 2, R > 0: spread new mass over the entry kernel and the tier weights."""
        if amount <= 0.0:
            return
        added = amount * self._tier_weights[:, None] * kernel[None, :]
        stop = start + kernel.shape[0]
        self._quantity[side, :, start:stop] += added
        if unknown_origin:
            self._legacy[side, :, start:stop] += added
        if self._lo >= self._hi:
            self._lo, self._hi = start, stop
        else:
            self._lo, self._hi = min(self._lo, start), max(self._hi, stop)

    def _close(self, side: int, target: float, total: float) -> None:
        """Step 2, R < 0: scale every cohort of the side pro rata so it sums to `target`.

        The factor is target / total, not 1 − amount / total: after a fall of open interest
        by orders of magnitude the difference loses the digits the balance needs.
        """
        keep = min(1.0, max(0.0, target / total)) if total > 0.0 else 0.0
        window = slice(self._lo, self._hi)
        self._quantity[side, :, window] *= keep
        self._legacy[side, :, window] *= keep

    # ----------------------------------------------------------------- fuel

    def fuel(
        self, reference_price: float, grid: BinGrid, *, smear: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """Liquidation fuel in USD per relative bin: (long fuel ℓ_down, short fuel ℓ_up).

        Each cohort contributes Q·LP (linear) or its USD face Q·E (inverse) at its
        liquidation price, binned per model-spec §1. With `smear`, each cohort's USD is
        spread over a truncated Gaussian in log price (σ = 0.15·|ln(LP/E)|, at least half
        a bin, ±3σ; research §4.6) sampled at bin resolution and normalised, so smearing
        moves USD between bins but never creates or loses it; what it pushes past K is
        dropped like any level there, and what it pushes below the price joins bin 1.
        """
        sides = []
        log_ref = math.log(reference_price)
        for side, direction in ((LONG, Direction.DOWN), (SHORT, Direction.UP)):
            tiers = self._fuel_tiers[side]
            if self._lo >= self._hi or tiers.shape[0] == 0:
                sides.append(np.zeros(grid.max_bins))
                continue
            window = slice(self._lo, self._hi)
            factor = self._lp_factor[side, tiers]
            usd = self._quantity[side, tiers, window] * self._entry_price[None, window]
            if self.params.contract_type is ContractType.LINEAR:
                usd *= factor[:, None]
            offsets = np.arange(self._lo, self._hi, dtype=np.float64) - ENTRY_BINS // 2
            log_lp = (self._anchor_log + np.log(factor))[:, None] + ENTRY_BIN * offsets[None, :]
            distance = log_ref - log_lp if direction is Direction.DOWN else log_lp - log_ref
            if smear:
                sides.append(self._smeared(usd, distance, factor, grid))
                continue
            bins = bin_index(distance, grid.delta, grid.max_bins)
            inside = (bins <= grid.max_bins) & (usd > 0.0)
            summed = np.bincount(bins[inside] - 1, weights=usd[inside], minlength=grid.max_bins)
            sides.append(summed.astype(np.float64, copy=False))
        return sides[0], sides[1]

    def _smeared(
        self, usd: FloatArray, distance: FloatArray, factor: FloatArray, grid: BinGrid
    ) -> FloatArray:
        """Per-tier histograms on an extended bin range, smeared in one batched FFT."""
        sigmas = np.maximum(SMEAR_SCALE * np.abs(np.log(factor)), grid.delta / 2.0) / grid.delta
        halves = np.ceil(SMEAR_TRUNCATION * sigmas).astype(np.int64)
        pad = int(halves.max())
        # Extended bins run from 1 - pad (all overdue mass) to K + pad; position 0 holds
        # bin 1 - pad. Mass further out cannot reach bins 1..K and is dropped.
        span = grid.max_bins + 2 * pad
        bins = np.clip(np.ceil(distance / grid.delta), -pad, grid.max_bins + pad + 1.0)
        keep = (bins <= grid.max_bins + pad) & (usd > 0.0)
        position = np.maximum(bins.astype(np.int64), 1 - pad) - (1 - pad)
        tier_count = factor.shape[0]
        rows = np.broadcast_to(np.arange(tier_count)[:, None], usd.shape)
        histogram = np.bincount(
            rows[keep] * span + position[keep], weights=usd[keep], minlength=tier_count * span
        ).astype(np.float64, copy=False)
        histogram = histogram.reshape(tier_count, span)
        # Circular convolution: room for spill past K + pad and for offsets below 0,
        # which wrap to the last `pad` positions.
        size = _fft_size(span + 2 * pad)
        spectra = _kernel_spectra(size, tuple(sigmas.tolist()), tuple(halves.tolist()))
        smeared = np.fft.irfft(np.fft.rfft(histogram, size, axis=1) * spectra, size, axis=1)
        np.maximum(smeared, 0.0, out=smeared)
        totals = smeared.sum(axis=1)
        wanted = histogram.sum(axis=1)
        scale = np.divide(wanted, totals, out=np.zeros_like(wanted), where=totals > 0.0)
        combined = scale @ smeared  # Σ over tiers of each row, each normalised to its USD
        fuel = np.empty(grid.max_bins)
        fuel[0] = combined[: pad + 1].sum() + combined[size - pad :].sum()
        fuel[1:] = combined[pad + 1 : pad + grid.max_bins]
        return fuel


@functools.lru_cache(maxsize=64)
def _kernel_spectra(size: int, sigmas: tuple[float, ...], halves: tuple[int, ...]) -> ComplexArray:
    """FFTs of normalised truncated Gaussians centred at index 0, one row per tier.

    Shared by every ledger with the same tiers and bin width: they never change.
    """
    rows = np.zeros((len(sigmas), size))
    for row, sigma, half in zip(rows, sigmas, halves, strict=True):
        offsets = np.arange(-half, half + 1)
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        row[offsets % size] = kernel / kernel.sum()
    spectra = np.fft.rfft(rows, axis=1)
    spectra.setflags(write=False)
    return spectra


def _fft_size(minimum: int) -> int:
    """Smallest 2^a·3^b·5^c >= minimum: pocketfft is fastest on such lengths."""
    best = 1 << (minimum - 1).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < minimum:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best
