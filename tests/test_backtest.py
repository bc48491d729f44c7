"""`liqmon backtest`: its numbers recomputed independently, and real runs end to end.

- a small constructed case (made-up numbers, not market data) worked by hand;
- a larger constructed case against plain loops written here (statistics.median, math.log),
  not the polars/numpy code of monitor/backtest/metrics.py;
- a SIMULATED Bybit recording (frames of the test venue, liquidations planted at chosen
  times) backtested by the CLI; the report's numbers are recomputed from the replay's
  kept data by the same plain loops;
- the real Bybit capture in ../shared/data/real gives the Markdown and PNG figures.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest
from fake_venues import bybit as fake_bybit
from real_data import CAPTURES, REAL_DATA
from test_replay import _restore_logging  # noqa: F401 - autouse: the CLI sets up logging

from monitor.backtest.metrics import (
    ALERT_SCHEMA,
    BIN_SCHEMA,
    NS,
    PRICE_SCHEMA,
    TAPE_SCHEMA,
    BurstParams,
    Evaluation,
    evaluate,
)
from monitor.backtest.report import BacktestOptions, render_markdown
from monitor.cli import main
from monitor.config import RiskSettings
from monitor.replay import ReplayResult

BYBIT = CAPTURES / "cryptofeed" / "BYBIT.jsonl.zst"
TAPE_2024_12 = REAL_DATA / "binance_um_btcusdt_liquidations_2024-12" / "liquidation_orders.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Key = tuple[str, str, str]


# ---------------------------------------------------------------------- plain loops


def loop_bursts(
    tape: list[dict[str, Any]], params: BurstParams, start_ns: int, end_ns: int
) -> list[dict[str, Any]]:
    """Bursts by the definition, one window at a time."""
    window = params.window_ns
    first, last = start_ns // window, end_ns // window
    keys = sorted({(r["venue"], r["symbol"], r["side"]) for r in tape})
    bursts = []
    for key in keys:
        rows = [r for r in tape if (r["venue"], r["symbol"], r["side"]) == key]
        sums = [
            sum(
                r["usd"]
                for r in rows
                if r["ts_ns"] // window == index and start_ns <= r["ts_ns"] <= end_ns
            )
            for index in range(first, last + 1)
        ]
        flags = []
        for i, usd in enumerate(sums):
            before = sums[max(0, i - params.trailing_windows) : i]
            median = statistics.median(before) if before else 0.0
            flags.append(usd > max(params.multiple * median, params.min_usd))
        i = 0
        while i < len(flags):
            if not flags[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(flags) and flags[j + 1]:
                j += 1
            lo, hi = (first + i) * window, (first + j + 1) * window
            onset = min(r["ts_ns"] for r in rows if lo <= r["ts_ns"] < hi)
            bursts.append(
                {"key": key, "onset_ns": onset, "end_ns": hi, "usd": sum(sums[i : j + 1])}
            )
            i = j + 1
    return bursts


def loop_leads(
    bursts: list[dict[str, Any]], alerts: list[dict[str, Any]], lookback_ns: int
) -> list[int | None]:
    """Lead time in ns of each burst (None: missed)."""
    leads: list[int | None] = []
    for burst in bursts:
        times = [
            a["ts_ns"]
            for a in alerts
            if (a["venue"], a["symbol"], a["side"]) == burst["key"]
            and a["severity"] in ("warning", "critical")
            and burst["onset_ns"] - lookback_ns <= a["ts_ns"] <= burst["onset_ns"]
        ]
        leads.append(burst["onset_ns"] - min(times) if times else None)
    return leads


def loop_false_alarms(
    alerts: list[dict[str, Any]], bursts: list[dict[str, Any]], lookback_ns: int
) -> dict[Key, int]:
    false: dict[Key, int] = defaultdict(int)
    for alert in alerts:
        if alert["severity"] not in ("warning", "critical"):
            continue
        key = (alert["venue"], alert["symbol"], alert["side"])
        t = alert["ts_ns"]
        followed = any(
            b["key"] == key
            and (t <= b["onset_ns"] <= t + lookback_ns or b["onset_ns"] <= t < b["end_ns"])
            for b in bursts
        )
        false[key] += not followed
    return dict(false)


def loop_realisation(
    snapshots: list[dict[str, Any]],
    bins: list[dict[str, Any]],
    marks: list[dict[str, Any]],
    tape: list[dict[str, Any]],
) -> dict[Key, tuple[float, float]]:
    """(fuel crossed, liquidated in crossing intervals) per venue market and side."""
    out: dict[Key, tuple[float, float]] = {}
    markets = sorted({(s["venue"], s["symbol"]) for s in snapshots})
    for venue, symbol in markets:
        snaps = sorted(
            (s["ts_ns"], s["price"])
            for s in snapshots
            if (s["venue"], s["symbol"]) == (venue, symbol)
        )
        for side in ("down", "up"):
            crossed_total = liquidated_total = 0.0
            for (t0, _), (t1, p1) in itertools.pairwise(snaps):
                path = [p1] + [
                    m["price"]
                    for m in marks
                    if (m["venue"], m["symbol"]) == (venue, symbol) and t0 < m["ts_ns"] <= t1
                ]
                low, high = min(path), max(path)
                crossed = 0.0
                for b in bins:
                    if (b["venue"], b["symbol"], b["side"], b["ts_ns"]) != (
                        venue,
                        symbol,
                        side,
                        t0,
                    ):
                        continue
                    width = math.log(b["price_high"]) - math.log(b["price_low"])
                    if side == "down":
                        share = (math.log(b["price_high"]) - math.log(low)) / width
                    else:
                        share = (math.log(high) - math.log(b["price_low"])) / width
                    crossed += min(1.0, max(0.0, share)) * b["usd"]
                if crossed > 0:
                    crossed_total += crossed
                    liquidated_total += sum(
                        r["usd"]
                        for r in tape
                        if (r["venue"], r["symbol"], r["side"]) == (venue, symbol, side)
                        and t0 < r["ts_ns"] <= t1
                    )
            out[(venue, symbol, side)] = (crossed_total, liquidated_total)
    return out


def check_against_loops(
    evaluation: Evaluation,
    *,
    tape: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    snapshots: list[dict[str, Any]],
    bins: list[dict[str, Any]],
    marks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every number of the evaluation equals the plain loops' number; returns the bursts."""
    params = evaluation.params
    bursts = loop_bursts(tape, params, evaluation.start_ns, evaluation.end_ns)
    got = evaluation.bursts.sort(["venue", "symbol", "side", "onset_ns"]).to_dicts()
    assert [(b["venue"], b["symbol"], b["side"]) for b in got] == [b["key"] for b in bursts]
    assert [b["onset_ns"] for b in got] == [b["onset_ns"] for b in bursts]
    assert [b["end_ns"] for b in got] == [b["end_ns"] for b in bursts]
    assert [b["usd"] for b in got] == pytest.approx([b["usd"] for b in bursts])
    assert [b["lead_ns"] for b in got] == loop_leads(bursts, alerts, params.lookback_ns)

    false = loop_false_alarms(alerts, bursts, params.lookback_ns)
    days = (evaluation.end_ns - evaluation.start_ns) / (86_400 * NS)
    for row in evaluation.summary.iter_rows(named=True):
        key = (row["venue"], row["symbol"], row["side"])
        assert row["false_alarms"] == false.get(key, 0), key
        assert row["false_alarms_per_day"] == pytest.approx(false.get(key, 0) / days)
        mine = [b for b in bursts if b["key"] == key]
        leads = [lead for lead in loop_leads(mine, alerts, params.lookback_ns) if lead is not None]
        assert row["bursts"] == len(mine)
        assert row["missed"] == len(mine) - len(leads)
        median = statistics.median(leads) / NS if leads else None
        assert row["median_lead_s"] == pytest.approx(median)

    ratios = loop_realisation(snapshots, bins, marks, tape)
    got_ratios = {
        (r["venue"], r["symbol"], r["side"]): r for r in evaluation.realisation.to_dicts()
    }
    assert set(got_ratios) == set(ratios)
    for key, (crossed, liquidated) in ratios.items():
        row = got_ratios[key]
        assert row["fuel_crossed_usd"] == pytest.approx(crossed, rel=1e-9, abs=1e-6)
        assert row["liquidated_usd"] == pytest.approx(liquidated)
        if crossed > 0:
            assert row["ratio"] == pytest.approx(liquidated / crossed, rel=1e-9)
        else:
            assert row["ratio"] is None
    return bursts


# ---------------------------------------------------------------------- constructed cases


def frames(
    tape: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    snapshots: list[dict[str, Any]],
    bins: list[dict[str, Any]],
    marks: list[dict[str, Any]],
) -> dict[str, pl.DataFrame]:
    return {
        "tape": pl.DataFrame(tape, schema=TAPE_SCHEMA),
        "alerts": pl.DataFrame(alerts, schema=ALERT_SCHEMA),
        "snapshots": pl.DataFrame(snapshots, schema=PRICE_SCHEMA),
        "bins": pl.DataFrame(bins, schema=BIN_SCHEMA),
        "marks": pl.DataFrame(marks, schema=PRICE_SCHEMA),
    }


def run(params: BurstParams, start: int, end: int, **rows: list[dict[str, Any]]) -> Evaluation:
    f = frames(**rows)
    return evaluate(
        f["tape"],
        f["alerts"],
        snapshots=f["snapshots"],
        bins=f["bins"],
        marks=f["marks"],
        params=params,
        start_ns=start,
        end_ns=end,
    )


S = NS
HAND_TAPE = [  # constructed: venue "v", symbol "X"
    {"ts_ns": 10 * S, "venue": "v", "symbol": "X", "side": "down", "usd": 1_000.0},
    {"ts_ns": 400 * S, "venue": "v", "symbol": "X", "side": "down", "usd": 2_000.0},
    {"ts_ns": 610 * S, "venue": "v", "symbol": "X", "side": "down", "usd": 500_000.0},
    {"ts_ns": 620 * S, "venue": "v", "symbol": "X", "side": "down", "usd": 300_000.0},
    {"ts_ns": 1_300 * S, "venue": "v", "symbol": "X", "side": "down", "usd": 1_000.0},
    {"ts_ns": 2_000 * S, "venue": "v", "symbol": "X", "side": "up", "usd": 400_000.0},
]
HAND_ALERTS = [
    {"ts_ns": 100 * S, "venue": "v", "symbol": "X", "side": "down", "severity": "warning"},
    {"ts_ns": 500 * S, "venue": "v", "symbol": "X", "side": "down", "severity": "critical"},
    {"ts_ns": 900 * S, "venue": "v", "symbol": "X", "side": "down", "severity": "resolved"},
    {"ts_ns": 2_100 * S, "venue": "v", "symbol": "X", "side": "down", "severity": "warning"},
]
HAND_SNAPSHOTS = [
    {"ts_ns": 0, "venue": "v", "symbol": "X", "price": 100.0},
    {"ts_ns": 600 * S, "venue": "v", "symbol": "X", "price": 99.5},
    {"ts_ns": 1_200 * S, "venue": "v", "symbol": "X", "price": 99.0},
]
HAND_BINS = [
    {"ts_ns": 0, "venue": "v", "symbol": "X", "side": "down", "price_low": 99.0,
     "price_high": 100.0, "usd": 1_000_000.0},
    {"ts_ns": 0, "venue": "v", "symbol": "X", "side": "up", "price_low": 101.0,
     "price_high": 102.0, "usd": 5_000_000.0},
    {"ts_ns": 600 * S, "venue": "v", "symbol": "X", "side": "down", "price_low": 98.0,
     "price_high": 99.0, "usd": 2_000_000.0},
]  # fmt: skip
HAND_MARKS = [
    {"ts_ns": 300 * S, "venue": "v", "symbol": "X", "price": 99.5},
    {"ts_ns": 900 * S, "venue": "v", "symbol": "X", "price": 98.5},
]


def test_a_constructed_case_worked_by_hand() -> None:
    params = BurstParams(window_ns=300 * S, multiple=5.0, trailing_windows=288,
                         min_usd=100_000.0, lookback_ns=3_600 * S)  # fmt: skip
    ev = run(params, 0, 2_400 * S, tape=HAND_TAPE, alerts=HAND_ALERTS,
             snapshots=HAND_SNAPSHOTS, bins=HAND_BINS, marks=HAND_MARKS)  # fmt: skip
    bursts = ev.bursts.to_dicts()
    # down: the window [600, 900) s holds 800,000 > max(5 x median(1,000, 2,000), 100,000);
    # up: the window [1,800, 2,100) s holds 400,000, nothing before it.
    assert [(b["side"], b["onset_ns"], b["end_ns"], b["usd"]) for b in bursts] == [
        ("down", 610 * S, 900 * S, 800_000.0),
        ("up", 2_000 * S, 2_100 * S, 400_000.0),
    ]
    assert bursts[0]["lead_ns"] == 510 * S  # the warning at 100 s, 510 s before the onset
    assert bursts[0]["first_severity"] == "warning"
    assert bursts[0]["alerts_before"] == 2
    assert bursts[1]["caught"] is False  # no up alert at all: missed
    alerts = ev.alerts.to_dicts()
    assert [a["false_alarm"] for a in alerts] == [False, False, True]  # resolved left out
    down, up = ev.summary.to_dicts()
    assert (down["bursts"], down["caught"], down["missed"], down["alerts"]) == (1, 1, 0, 3)
    assert down["false_alarms_per_day"] == pytest.approx(1 / (2_400 / 86_400))
    assert (up["bursts"], up["missed"], up["alerts"]) == (1, 1, 0)
    # realisation, down: interval (0, 600] falls to 99.5, crossing ln(100/99.5)/ln(100/99)
    # of the 1 M bin; (600, 1,200] falls to 98.5, crossing ln(99/98.5)/ln(99/98) of 2 M.
    crossed = 1e6 * math.log(100 / 99.5) / math.log(100 / 99) + 2e6 * math.log(
        99 / 98.5
    ) / math.log(99 / 98)
    ratio = ev.realisation.filter(pl.col("side") == "down").to_dicts()[0]
    assert ratio["crossing_intervals"] == 2
    assert ratio["fuel_crossed_usd"] == pytest.approx(crossed)
    assert ratio["liquidated_usd"] == 803_000.0  # 1,000 + 2,000 + 500,000 + 300,000
    assert ratio["ratio"] == pytest.approx(803_000.0 / crossed)
    # up: the high never reached 101: nothing crossed, no ratio; the up burst at 2,000 s is
    # after the last snapshot, outside every interval.
    up_ratio = ev.realisation.filter(pl.col("side") == "up").to_dicts()[0]
    assert up_ratio["fuel_crossed_usd"] == 0.0
    assert up_ratio["ratio"] is None
    check_against_loops(ev, tape=HAND_TAPE, alerts=HAND_ALERTS, snapshots=HAND_SNAPSHOTS,
                        bins=HAND_BINS, marks=HAND_MARKS)  # fmt: skip


def constructed_market(seed: int) -> dict[str, list[dict[str, Any]]]:
    """A made-up market of two symbols over 6 h: quiet tape with planted bursts."""
    rng = np.random.default_rng(seed)
    hours = 6
    tape, alerts, snapshots, bins, marks = [], [], [], [], []
    for symbol in ("X", "Y"):
        quiet = [(int(rng.integers(0, hours * 3_600)), 100.0, 20_000.0) for _ in range(400)]
        loud = [
            (int(start) + 7 * k, 20_000.0, 300_000.0)
            for start in rng.integers(0, hours * 3_600, size=4)
            for k in range(int(rng.integers(3, 30)))
        ]
        tape += [
            {
                "ts_ns": second * S,
                "venue": "v",
                "symbol": symbol,
                "side": str(rng.choice(["down", "up"])),
                "usd": float(rng.uniform(low, high)),
            }
            for second, low, high in quiet + loud
        ]
        alerts += [
            {
                "ts_ns": int(t) * S,
                "venue": "v",
                "symbol": symbol,
                "side": str(rng.choice(["down", "up"])),
                "severity": str(rng.choice(["warning", "critical", "resolved"])),
            }
            for t in rng.integers(0, hours * 3_600, size=12)
        ]
        price = 100.0
        for minute in range(0, hours * 60, 10):
            t = minute * 60 * S
            snapshots.append({"ts_ns": t, "venue": "v", "symbol": symbol, "price": price})
            for j in range(1, 40):
                for side, sign in (("down", -1), ("up", 1)):
                    near, far = (
                        price * math.exp(sign * (j - 1) * 0.001),
                        price * math.exp(sign * j * 0.001),
                    )
                    bins.append(
                        {
                            "ts_ns": t,
                            "venue": "v",
                            "symbol": symbol,
                            "side": side,
                            "price_low": min(near, far),
                            "price_high": max(near, far),
                            "usd": float(rng.uniform(0, 50_000)),
                        }
                    )
            for k in range(1, 10):
                price *= math.exp(float(rng.normal(0, 0.002)))
                marks.append(
                    {"ts_ns": t + k * 60 * S, "venue": "v", "symbol": symbol, "price": price}
                )
    return {"tape": tape, "alerts": alerts, "snapshots": snapshots, "bins": bins, "marks": marks}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_larger_constructed_case_matches_plain_loops(seed: int) -> None:
    rows = constructed_market(seed)
    params = BurstParams(
        window_ns=120 * S, multiple=4.0, trailing_windows=30, min_usd=50_000.0,
        lookback_ns=1_800 * S,
    )  # fmt: skip
    ev = run(params, 0, 6 * 3_600 * S, **rows)
    bursts = check_against_loops(ev, **rows)
    assert len(bursts) >= 4  # the planted bursts are there
    assert ev.bursts["caught"].sum() >= 1
    assert ev.alerts["false_alarm"].sum() >= 1


def test_the_markdown_shows_the_numbers(tmp_path: Path) -> None:
    params = BurstParams()
    ev = run(params, 0, 2_400 * S, tape=HAND_TAPE, alerts=HAND_ALERTS,
             snapshots=HAND_SNAPSHOTS, bins=HAND_BINS, marks=HAND_MARKS)  # fmt: skip
    drawn = {("v", "X", "heatmap"): tmp_path / "heatmap-v-X.png"}
    text = render_markdown(
        ev,
        ReplayResult(),
        options=BacktestOptions(out=tmp_path, params=params, command="liqmon backtest x"),
        files=[Path("x.jsonl")],
        drawn=drawn,
        no_feed=["hyperliquid"],
        heatmap_every_ns=600 * S,
        risk=RiskSettings(),
    )
    ratio = ev.realisation.filter(pl.col("side") == "down")["ratio"][0]
    assert "| v X | down | $804,000 | 1 | 1 | 0 | 8.5 min | 3 | 1 | 36.0 | " in text
    assert f"| {ratio:.3f} |" in text
    assert "| up | 1970-01-01T00:33:20.000Z | 1 | $400,000 | missed | – | – |" in text
    assert "![v X fuel heatmap](heatmap-v-X.png)" in text
    assert "no public liquidation feed** on hyperliquid" in text
    assert (
        "risk cycles every 5 s of simulated time (`risk.interval_s`), inputs stale after 30 s "
        "(`risk.stale_after_s`), heatmap snapshots every 10.0 min" in text
    )
    assert "max(5 × the median of the 288 windows before it, $100,000)" in text


# ---------------------------------------------------------------------- end to end


def simulated_recording(path: Path) -> list[int]:
    """A SIMULATED Bybit BTCUSDT recording (liqmon format): the test venue's tickers and
    book every second for 10 min, plus liquidation bursts planted at chosen seconds.

    Returns the planted burst times (ns).
    """
    start_ms = 1_800_000_000_000  # 2027-01-15, clearly not a real capture
    now = {"ms": start_ms}
    script = fake_bybit.Script(clock_ms=lambda: now["ms"])
    lines: list[bytes] = []

    def write(raw: str) -> None:
        record = {
            "recv_ns": now["ms"] * 1_000_000,
            "venue": "bybit",
            "conn": "linear-0",
            "raw": raw,
        }
        lines.append(orjson.dumps(record))

    subscribe = {
        "req_id": "BTCUSDT",
        "op": "subscribe",
        "args": ["tickers.BTCUSDT", "orderbook.200.BTCUSDT", "publicTrade.BTCUSDT",
                 "allLiquidation.BTCUSDT"],
    }  # fmt: skip
    for raw in script.replies(json.dumps(subscribe)):
        write(raw)
    planted = [200, 420]  # seconds after the start
    for step in range(600):
        now["ms"] = start_ms + step * 1_000
        for raw in script.data("BTCUSDT", step):
            if '"allLiquidation.' not in raw:  # the script's own small ones left out
                write(raw)
        for second in planted:
            if second <= step < second + 20:
                now["ms"] += 500
                item = {"T": now["ms"] - 100, "s": "BTCUSDT", "S": "Buy", "v": "1.500",
                        "p": "64800.00"}  # fmt: skip
                write(json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot",
                                  "ts": now["ms"], "data": [item]}))  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return [(start_ms + s * 1_000 + 500) * 1_000_000 for s in planted]


def read_kept(data: Path) -> dict[str, list[dict[str, Any]]]:
    """The replay's kept outputs as the plain rows the loops take."""
    events = pl.read_parquet(data / "events.parquet")
    liquidations = events.filter(pl.col("type") == "liquidation").to_dicts()
    tape = [
        {
            "ts_ns": e["ts_recv_ns"],
            "venue": e["venue"],
            "symbol": e["symbol"],
            "side": {"long": "down", "short": "up"}[e["side"]],
            "usd": e["notional_usd"],
        }
        for e in liquidations
    ]
    tape += [{**row, "venue": "all", "symbol": "BTC"} for row in list(tape)]
    alerts = [json.loads(line) for line in (data / "alerts.jsonl").read_text().splitlines()]
    heatmaps = json.loads((data / "heatmaps.json").read_text())
    snapshots = [
        {k: h[k] for k in ("ts_ns", "venue", "symbol", "price")}
        for h in heatmaps
        if h["venue"] != "all"
    ]
    bins = [
        {"ts_ns": h["ts_ns"], "venue": h["venue"], "symbol": h["symbol"], "side": side, **b}
        for h in heatmaps
        for side in ("down", "up")
        for b in h[side]
    ]
    marks = [
        {"ts_ns": e["ts_recv_ns"], "venue": e["venue"], "symbol": e["symbol"], "price": e["price"]}
        for e in events.filter(pl.col("type") == "mark_price").to_dicts()
    ]
    return {"tape": tape, "alerts": alerts, "snapshots": snapshots, "bins": bins, "marks": marks}


def check_pngs(paths: list[Path]) -> None:
    assert paths
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, path
        assert 10_000 < len(data) < 400_000, (path, len(data))


def test_a_simulated_recording_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "simulated-bybit.jsonl"
    planted = simulated_recording(recording)
    out = tmp_path / "report"
    argv = ["backtest", str(recording), "--out", str(out), "--window", "30s",
            "--trailing", "5m", "--min-burst-usd", "200000", "--lookback", "5m",
            "--heatmap-every", "10s", "--keep-data"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == {}
    check_pngs([Path(p) for p in summary["figures"]])
    assert {Path(p).name for p in summary["figures"]} >= {
        "heatmap-bybit-BTCUSDT.png",
        "shock-bybit-BTCUSDT.png",
        "liquidations-bybit-BTCUSDT.png",
        "heatmap-all-BTC.png",
    }

    result = json.loads((out / "backtest.json").read_text())
    rows = read_kept(out / "data")
    params = BurstParams(window_ns=30 * S, multiple=5.0, trailing_windows=10,
                         min_usd=200_000.0, lookback_ns=300 * S)  # fmt: skip
    # the bursts of the report, recomputed by the plain loops from the replay's own data
    start, end = result["start_ns"], result["end_ns"]
    bursts = loop_bursts(rows["tape"], params, start, end)
    assert [(b["venue"], b["symbol"], b["side"], b["onset_ns"]) for b in result["bursts"]] == [
        (*b["key"], b["onset_ns"]) for b in bursts
    ]
    onsets = sorted({b["onset_ns"] for b in bursts})
    assert len(onsets) == len(planted)
    for onset, plant in zip(onsets, planted, strict=True):
        assert plant <= onset < plant + 30 * S  # each planted burst found where it was put
    leads = loop_leads(bursts, rows["alerts"], params.lookback_ns)
    assert [b["lead_ns"] for b in result["bursts"]] == leads
    # the critical alert at the start is 200 s before the first burst: caught; the second
    # comes 420 s after it, past the 5 min lookback (and the 15 min cooldown): missed
    assert sum(lead is not None for lead in leads) >= 1
    assert None in leads
    false = loop_false_alarms(rows["alerts"], bursts, params.lookback_ns)
    for row in result["summary"]:
        key = (row["venue"], row["symbol"], row["side"])
        assert row["false_alarms"] == false.get(key, 0), key
        per_day = false.get(key, 0) * 86_400 * NS / (end - start)
        assert row["false_alarms_per_day"] == pytest.approx(per_day)
    ratios = loop_realisation(rows["snapshots"], rows["bins"], rows["marks"], rows["tape"])
    for row in result["realisation"]:
        crossed, liquidated = ratios[(row["venue"], row["symbol"], row["side"])]
        assert row["fuel_crossed_usd"] == pytest.approx(crossed, rel=1e-9, abs=1e-6)
        assert row["liquidated_usd"] == pytest.approx(liquidated)

    report = (out / "report.md").read_text()
    assert "## bybit BTCUSDT" in report
    assert "![bybit BTCUSDT fuel heatmap](heatmap-bybit-BTCUSDT.png)" in report
    assert report.count("| down |") >= 2


def test_the_real_bybit_capture_gives_a_report_and_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bybit"
    assert main(["backtest", str(BYBIT), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 3_229
    assert summary["rejected"] == {}
    figures = [Path(p) for p in summary["figures"]]
    check_pngs(figures)
    assert {p.name for p in figures} == {
        f"{kind}-{market}.png"
        for kind in ("heatmap", "shock")
        for market in ("bybit-BTCUSDT", "bybit-ETHUSDT", "all-BTC", "all-ETH")
    }  # no liquidation in those 45 s: no liquidation figure
    report = (out / "report.md").read_text()
    assert report.startswith("# Backtest report")
    assert "period: 2026-08-09T21:26:57.601Z" in report
    result = json.loads((out / "backtest.json").read_text())
    assert result["bursts"] == []
    # every risk alert is a false alarm: nothing was liquidated in the capture
    assert sum(r["alerts"] for r in result["summary"]) == summary["risk_alerts"] > 0
    assert summary["false_alarms"] == summary["risk_alerts"]
    assert {r["venue"] for r in result["realisation"]} == {"bybit"}
    assert not (out / "data").exists()


def test_the_real_december_2024_tape_read_as_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binance forceOrder events (a plain table, IST offsets in the times): bursts, no alerts.

    Without open interest the ledger never fills, so no alert fires and every burst is
    missed; the bursts are recomputed by the plain loop from the replay's own events.
    """
    monkeypatch.setenv("LIQMON_RISK__INTERVAL_S", "600")  # two sparse days: 10-min cycles
    out = tmp_path / "dec"
    argv = ["backtest", str(TAPE_2024_12), "--out", str(out), "--utc-offset", "5.5",
            "--keep-data"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == {"Liquidation": 1_844}
    result = json.loads((out / "backtest.json").read_text())
    rows = read_kept(out / "data")
    bursts = loop_bursts(rows["tape"], BurstParams(), result["start_ns"], result["end_ns"])
    assert [(b["venue"], b["symbol"], b["side"], b["onset_ns"]) for b in result["bursts"]] == [
        (*b["key"], b["onset_ns"]) for b in bursts
    ]
    assert len(bursts) > 10
    assert all(b["first_alert_ns"] is None for b in result["bursts"])  # all missed
    liquidated = {
        (r["venue"], r["symbol"], r["side"]): r["liquidated_usd"] for r in result["summary"]
    }
    for side in ("down", "up"):
        expected = sum(
            r["usd"] for r in rows["tape"] if r["venue"] == "binance" and r["side"] == side
        )
        assert liquidated[("binance", "BTCUSDT", side)] == pytest.approx(expected)
        assert liquidated[("all", "BTC", side)] == pytest.approx(expected)
    # no price without marks: only the liquidation figures
    assert {Path(p).name for p in summary["figures"]} == {
        "liquidations-binance-BTCUSDT.png",
        "liquidations-all-BTC.png",
    }
    check_pngs([Path(p) for p in summary["figures"]])
    assert "--utc-offset 5.5" in (out / "report.md").read_text()


def test_bad_options_and_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(BYBIT), "--out", str(tmp_path), "--window", "five"]) == 2
    assert "not a duration: 'five'" in capsys.readouterr().err
    assert main(["backtest", str(BYBIT), "--out", str(tmp_path), "--multiple", "0"]) == 2
    assert "burst multiple" in capsys.readouterr().err
    missing = tmp_path / "missing.jsonl"
    assert main(["backtest", str(missing), "--out", str(tmp_path)]) == 2
    assert str(missing) in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["backtest", str(empty), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("liqmon backtest: ")
    assert main(["backtest", str(BYBIT), "--out", str(empty)]) == 2  # a file, not a folder
    assert "cannot write the report" in capsys.readouterr().err
