"""Alert rules (model-spec §6): a pure state machine per (market, side).

Per venue (or "all") × symbol × side:

- *warning* when the critical shock x_c <= 2.0 %, *critical* when x_c <= 1.0 %; a worsening
  level is announced at once;
- *resolved* once x_c has stayed above 1.25 × the warning threshold for 60 s of fresh
  readings, so a stale period restarts the clock (between the warning threshold and that
  line nothing changes: hysteresis, so a value hovering at the threshold does not flap);
- a repeat of the same severity within the cooldown (15 min) of the last one is held back
  unless x_c is lower than it was then;
- while an input feed is stale, risk alerts are suppressed and one *data_stale* alert is
  raised instead (and *data_restored* when the data is fresh again);
- while a side has no depth (fresh feeds, but x_c unavailable, model-spec §2) nothing is
  known: no alert is raised or resolved and the level holds. No *data_stale*: no feed is
  late, and every market's sides are unavailable until its first book arrives;
- alerts carry `low_confidence` while the ledger's coverage is below 50 %.

Time comes in as a value (`now_ns`), so live runs and replays give the same alerts, and alert
ids derive from their content: the same input always yields the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from monitor.core.risk import Cluster

NS = 1_000_000_000


class Severity(StrEnum):
    """What an alert announces."""

    WARNING = "warning"
    CRITICAL = "critical"
    RESOLVED = "resolved"
    DATA_STALE = "data_stale"
    DATA_RESTORED = "data_restored"


class _Level(IntEnum):
    NONE = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Defaults of model-spec §6; all configurable."""

    warning_pct: float = 2.0
    critical_pct: float = 1.0
    resolve_factor: float = 1.25
    resolve_hold_s: float = 60.0
    cooldown_s: float = 900.0
    low_coverage: float = 0.5


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, ready to publish."""

    id: str
    ts_ns: int
    venue: str
    symbol: str
    side: str
    severity: Severity
    critical_shock_pct: float | None
    threshold_pct: float | None
    price: float
    low_confidence: bool
    clusters: tuple[Cluster, ...]
    figures: Mapping[str, float | None]
    message: str

    def as_json(self) -> dict[str, Any]:
        """The alert as a JSON object; the sinks add the ISO `time` (see monitor/sinks)."""
        return {
            "id": self.id,
            "ts_ns": self.ts_ns,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side,
            "severity": self.severity.value,
            "critical_shock_pct": self.critical_shock_pct,
            "threshold_pct": self.threshold_pct,
            "price": self.price,
            "low_confidence": self.low_confidence,
            "figures": dict(self.figures),
            "clusters": [{"price": c.price, "usd": c.usd} for c in self.clusters],
            "message": self.message,
        }


@dataclass(slots=True)
class _State:
    level: _Level = _Level.NONE
    calm_since_ns: int | None = None
    last_sent: dict[Severity, tuple[int, float | None]] = field(default_factory=dict)
    stale: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    """One risk cycle's view of one (market, side)."""

    now_ns: int
    venue: str
    symbol: str
    side: str  # "down" (longs liquidated) or "up"
    critical_shock_pct: float | None  # None: no cascade within the shock range
    price: float
    coverage: float
    stale: bool
    unavailable: bool = False  # the side has no depth (model-spec §2): x_c is not known
    clusters: tuple[Cluster, ...] = ()
    figures: Mapping[str, float | None] = field(default_factory=dict)


class AlertPolicy:
    """Keeps the state of every (venue, symbol, side) and decides which alerts to send."""

    def __init__(self, thresholds: AlertThresholds | None = None) -> None:
        self.thresholds = thresholds or AlertThresholds()
        self._states: dict[tuple[str, str, str], _State] = {}

    def level(self, venue: str, symbol: str, side: str) -> str:
        """The state of one (market, side): "none", "warning", "critical" or "stale"."""
        state = self._states.get((venue, symbol, side))
        if state is None:
            return "none"
        if state.stale:
            return "stale"
        return state.level.name.lower()

    def observe(self, obs: Observation) -> list[Alert]:
        """Fold in one observation; returns the alerts it triggers (often none)."""
        state = self._states.setdefault((obs.venue, obs.symbol, obs.side), _State())
        if obs.stale:
            state.calm_since_ns = None  # calm counts only while it is observed
            if state.stale:
                return []
            state.stale = True
            return [self._alert(obs, Severity.DATA_STALE, None)]
        alerts = []
        if state.stale:
            state.stale = False
            alerts.append(self._alert(obs, Severity.DATA_RESTORED, None))
        if obs.unavailable:
            state.calm_since_ns = None  # missing depth is not calm: the level holds
            return alerts
        alerts.extend(self._risk(obs, state))
        return alerts

    def _risk(self, obs: Observation, state: _State) -> list[Alert]:
        t = self.thresholds
        shock = obs.critical_shock_pct
        target = _Level.NONE
        if shock is not None and shock <= t.critical_pct:
            target = _Level.CRITICAL
        elif shock is not None and shock <= t.warning_pct:
            target = _Level.WARNING
        if target is not _Level.NONE:
            return self._escalate(obs, state, target)
        if state.level is _Level.NONE:
            return []
        return self._maybe_resolve(obs, state)

    def _escalate(self, obs: Observation, state: _State, target: _Level) -> list[Alert]:
        state.calm_since_ns = None
        if target <= state.level:
            state.level = target  # de-escalation stays silent until resolved
            return []
        state.level = target
        severity = Severity.CRITICAL if target is _Level.CRITICAL else Severity.WARNING
        if self._cooling_down(obs, state, severity):
            return []
        t = self.thresholds
        threshold = t.critical_pct if target is _Level.CRITICAL else t.warning_pct
        state.last_sent[severity] = (obs.now_ns, obs.critical_shock_pct)
        return [self._alert(obs, severity, threshold)]

    def _maybe_resolve(self, obs: Observation, state: _State) -> list[Alert]:
        t = self.thresholds
        shock = obs.critical_shock_pct
        resolve_line = t.resolve_factor * t.warning_pct
        if shock is not None and shock <= resolve_line:
            state.calm_since_ns = None  # hysteresis band: still active
            return []
        if state.calm_since_ns is None:
            state.calm_since_ns = obs.now_ns
        if obs.now_ns - state.calm_since_ns < t.resolve_hold_s * NS:
            return []
        state.level = _Level.NONE
        state.calm_since_ns = None
        return [self._alert(obs, Severity.RESOLVED, resolve_line)]

    def _cooling_down(self, obs: Observation, state: _State, severity: Severity) -> bool:
        last = state.last_sent.get(severity)
        if last is None or obs.now_ns - last[0] >= self.thresholds.cooldown_s * NS:
            return False
        last_shock, shock = last[1], obs.critical_shock_pct
        worse = shock is not None and (last_shock is None or shock < last_shock)
        return not worse

    def _alert(self, obs: Observation, severity: Severity, threshold: float | None) -> Alert:
        low_confidence = obs.coverage < self.thresholds.low_coverage
        return Alert(
            id=_alert_id(obs, severity),
            ts_ns=obs.now_ns,
            venue=obs.venue,
            symbol=obs.symbol,
            side=obs.side,
            severity=severity,
            critical_shock_pct=obs.critical_shock_pct,
            threshold_pct=threshold,
            price=obs.price,
            low_confidence=low_confidence,
            clusters=obs.clusters,
            figures=dict(obs.figures),
            message=_message(obs, severity, threshold, low_confidence),
        )


def _alert_id(obs: Observation, severity: Severity) -> str:
    key = f"{obs.venue}|{obs.symbol}|{obs.side}|{severity.value}|{obs.now_ns}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _message(
    obs: Observation, severity: Severity, threshold: float | None, low_confidence: bool
) -> str:
    market = f"{obs.symbol} on {obs.venue}"
    direction = "down (long liquidations)" if obs.side == "down" else "up (short liquidations)"
    shock = (
        "none within range" if obs.critical_shock_pct is None else f"{obs.critical_shock_pct:g} %"
    )
    note = " [low confidence: ledger coverage below 50 %]" if low_confidence else ""
    if severity is Severity.DATA_STALE:
        return f"{market}: input data stale, cascade alerts suppressed"
    if severity is Severity.DATA_RESTORED:
        return f"{market}: input data fresh again, cascade alerts resume"
    if severity is Severity.RESOLVED:
        return f"{market} {direction}: resolved, critical shock {shock} (above {threshold:g} %)"
    top = f"; largest fuel at {obs.clusters[0].price:,.0f}" if obs.clusters else ""
    return (
        f"{market} {direction}: {severity.value}, a {shock} move would start a cascade "
        f"(threshold {threshold:g} %){top}{note}"
    )
