"""Alert semantics of model-spec §6 on the pure policy."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.alerts import AlertPolicy, Observation, Severity
from monitor.core.risk import Cluster

S = 1_000_000_000


def observe(policy, t_s, shock, *, stale=False, unavailable=False, coverage=1.0, side="down"):
    return policy.observe(
        Observation(
            now_ns=int(t_s * S),
            venue="binance",
            symbol="BTCUSDT",
            side=side,
            critical_shock_pct=shock,
            price=100_000.0,
            coverage=coverage,
            stale=stale,
            unavailable=unavailable,
            clusters=(Cluster(price=98_050.0, usd=4e7),),
        )
    )


def severities(alerts):
    return [a.severity for a in alerts]


def test_warning_then_critical_then_resolved_after_sixty_calm_seconds():
    policy = AlertPolicy()
    assert observe(policy, 0, 5.0) == []
    assert severities(observe(policy, 5, 1.8)) == [Severity.WARNING]
    assert observe(policy, 10, 1.7) == []  # still warning: no repeat
    critical = observe(policy, 15, 0.9)
    assert severities(critical) == [Severity.CRITICAL]
    assert critical[0].threshold_pct == 1.0
    assert "98,050" in critical[0].message
    assert observe(policy, 20, 3.0) == []  # calm starts
    assert observe(policy, 79, 3.0) == []
    resolved = observe(policy, 80.5, 3.0)
    assert severities(resolved) == [Severity.RESOLVED]


def test_hysteresis_band_keeps_the_alert_active():
    policy = AlertPolicy()
    observe(policy, 0, 1.9)
    for t in range(1, 200, 5):  # 2.4 % is above the warning line but below 1.25 x 2 %
        assert observe(policy, t, 2.4) == []
    assert severities(observe(policy, 300, None)) == []  # calm clock starts
    assert severities(observe(policy, 361, None)) == [Severity.RESOLVED]


def test_calm_interrupted_restarts_the_resolution_clock():
    policy = AlertPolicy()
    observe(policy, 0, 1.9)
    observe(policy, 10, 3.0)
    observe(policy, 50, 2.2)  # back in the band
    assert observe(policy, 80, 3.0) == []
    assert observe(policy, 139, 3.0) == []
    assert severities(observe(policy, 141, 3.0)) == [Severity.RESOLVED]


def test_repeat_within_cooldown_is_held_back_unless_worse():
    policy = AlertPolicy()
    observe(policy, 0, 1.9)
    observe(policy, 10, 3.0)
    assert severities(observe(policy, 71, 3.0)) == [Severity.RESOLVED]
    assert observe(policy, 100, 1.95) == []  # same severity, not worse, within 15 min
    observe(policy, 110, 3.0)
    observe(policy, 171, 3.0)
    assert severities(observe(policy, 200, 1.5)) == [Severity.WARNING]  # worse than 1.9
    observe(policy, 210, 3.0)
    observe(policy, 271, 3.0)
    assert severities(observe(policy, 1200, 1.99)) == [Severity.WARNING]  # cooldown over


def test_stale_data_suppresses_risk_alerts_and_says_so_once():
    policy = AlertPolicy()
    assert severities(observe(policy, 0, 0.5, stale=True)) == [Severity.DATA_STALE]
    assert observe(policy, 5, 0.5, stale=True) == []
    back = observe(policy, 10, 0.5)
    assert severities(back) == [Severity.DATA_RESTORED, Severity.CRITICAL]


def test_the_calm_clock_does_not_run_through_a_stale_period():
    policy = AlertPolicy()
    observe(policy, 0, 1.5)  # warning
    observe(policy, 10, 3.0)  # calm starts
    assert severities(observe(policy, 20, None, stale=True)) == [Severity.DATA_STALE]
    assert severities(observe(policy, 600, 3.0)) == [Severity.DATA_RESTORED]  # calm again
    assert observe(policy, 659, 3.0) == []
    assert severities(observe(policy, 660, 3.0)) == [Severity.RESOLVED]


def test_a_side_without_depth_neither_resolves_nor_alerts():
    policy = AlertPolicy()
    assert observe(policy, 0, None, unavailable=True, side="up") == []  # nothing known
    observe(policy, 0, 1.5)  # warning
    observe(policy, 10, 3.0)  # calm starts
    for t in (20, 100, 200):  # no depth: not a reading, and not calm
        assert observe(policy, t, None, unavailable=True) == []
    assert policy.level("binance", "BTCUSDT", "down") == "warning"
    assert observe(policy, 210, 3.0) == []  # calm starts again
    assert observe(policy, 269, 3.0) == []
    assert severities(observe(policy, 270, 3.0)) == [Severity.RESOLVED]


def test_low_coverage_marks_alerts_low_confidence():
    policy = AlertPolicy()
    alert = observe(policy, 0, 1.5, coverage=0.2)[0]
    assert alert.low_confidence
    assert "low confidence" in alert.message


def test_sides_are_independent_and_ids_are_deterministic():
    a, b = AlertPolicy(), AlertPolicy()
    first = observe(a, 0, 1.5, side="down") + observe(a, 0, 0.5, side="up")
    second = observe(b, 0, 1.5, side="down") + observe(b, 0, 0.5, side="up")
    assert severities(first) == [Severity.WARNING, Severity.CRITICAL]
    assert [x.id for x in first] == [x.id for x in second]
    assert len({x.id for x in first}) == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0.1, 5.0)), min_size=1, max_size=60))
def test_never_flaps_between_warning_and_resolved_faster_than_the_hold(shocks):
    policy = AlertPolicy()
    sent = []
    for i, shock in enumerate(shocks):
        sent += [(i * 5, x.severity, x.critical_shock_pct) for x in observe(policy, i * 5, shock)]
    for (t0, s0, x0), (t1, s1, x1) in itertools.pairwise(sent):
        if s1 is Severity.RESOLVED:
            assert t1 - t0 >= 60
        if s0 is s1 and s0 in (Severity.WARNING, Severity.CRITICAL) and t1 - t0 < 900:
            assert x1 < x0  # a repeat inside the cooldown only when it got worse
