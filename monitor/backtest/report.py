"""`liqmon backtest`: replay a period through the live pipeline, then judge the alerts.

The replay is `monitor.replay.Replay`, exactly what `liqmon replay` runs (adapters, the
live frame pipeline, the engine, the alert rules, risk cycles on the simulated clock). It
writes its normalised events, risk rows and heatmap snapshots to a scratch directory;
this module reads them back with polars, hands them to the pure functions of
`monitor.backtest.metrics`, draws the figures and writes `report.md` (plus
`backtest.json` with the same numbers) into the output directory.

Heatmap snapshots are taken on a regular grid of simulated time, so the span of the
input must be known first: the files are read once without the pipeline to find their
first and last receive time (cheap next to the replay itself).
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from monitor.backtest import figures
from monitor.backtest.command import HEATMAP_COLUMNS
from monitor.backtest.metrics import (
    ALERT_SCHEMA,
    BIN_SCHEMA,
    NS,
    PRICE_SCHEMA,
    SIDE_OF_POSITION,
    TAPE_SCHEMA,
    BurstParams,
    Evaluation,
    evaluate,
)
from monitor.config import RiskSettings, Settings
from monitor.engine import AGGREGATE, params_for
from monitor.replay import Replay, ReplayError, ReplayOptions, ReplayResult
from monitor.sinks.payload import iso_time
from monitor.sources import TableOptions, merge, open_source


@dataclass
class BacktestOptions:
    """Where the report goes and how bursts are judged."""

    out: Path
    params: BurstParams = field(default_factory=BurstParams)
    heatmap_every_ns: int | None = None  # None: the period / HEATMAP_COLUMNS
    instruments: dict[str, Path] = field(default_factory=dict)
    tables: TableOptions | None = None  # how plain tables are read (as `liqmon replay`)
    keep_data: bool = False  # keep the replay's outputs in out/data
    command: str = "liqmon backtest"
    progress: bool = False


@dataclass(frozen=True)
class Backtest:
    """A finished backtest: the replay's result, every number, the files written."""

    replay: ReplayResult
    evaluation: Evaluation
    report: Path
    figures: list[Path]


# ---------------------------------------------------------------------- the run


def run_backtest(settings: Settings, files: Sequence[Path], options: BacktestOptions) -> Backtest:
    """Replay `files`, evaluate the alerts against the liquidation tape, write the report."""
    start_ns, end_ns = _span(files, options.tables)
    every = _whole_cycles(
        settings, options.heatmap_every_ns or (end_ns - start_ns) // HEATMAP_COLUMNS
    )
    snapshot_at = list(range(start_ns + every, end_ns + 1, every))
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="liqmon-backtest-") as scratch:
        data = options.out / "data" if options.keep_data else Path(scratch)
        replay = Replay(
            settings,
            ReplayOptions(
                alerts_out=data / "alerts.jsonl",
                events_out=data / "events.parquet",
                risk_out=data / "risk.parquet",
                snapshot_at=snapshot_at,
                snapshot_out=data / "heatmaps.json",
                instruments=options.instruments,
                progress=options.progress,
            ),
        )
        result = replay.run([open_source(path, options.tables) for path in files])
        assets = {
            key: market.asset
            for key, market in (replay.engine.snapshot.markets.items() if replay.engine else ())
            if key[0] != AGGREGATE
        }
        events = pl.read_parquet(data / "events.parquet")
        risk = pl.read_parquet(data / "risk.parquet")
        heatmaps = orjson.loads((data / "heatmaps.json").read_bytes())
    tape = _with_aggregates(_tape(events), assets)
    alerts = _alerts(result)
    snapshots, bins = _heatmap_frames(heatmaps)
    marks = (
        events.filter(pl.col("type") == "mark_price")
        .select(pl.col("ts_recv_ns").alias("ts_ns"), "venue", "symbol", "price")
        .cast(PRICE_SCHEMA)
    )
    evaluation = evaluate(
        tape,
        alerts,
        snapshots=snapshots.filter(pl.col("venue") != AGGREGATE),
        bins=bins,
        marks=marks,
        params=options.params,
        start_ns=result.start_ns or start_ns,
        end_ns=result.end_ns or end_ns,
    )
    drawn = _figures(
        options.out,
        evaluation,
        snapshots=snapshots,
        bins=bins,
        risk=risk,
        alerts=alerts,
        settings=settings,
    )
    no_feed = sorted({venue for (venue, _), asset in assets.items() if not _has_feed(venue, asset)})
    report = options.out / "report.md"
    report.write_text(
        render_markdown(
            evaluation,
            result,
            options=options,
            files=files,
            drawn=drawn,
            no_feed=no_feed,
            heatmap_every_ns=every,
            risk=settings.risk,
        ),
        "utf-8",
    )
    (options.out / "backtest.json").write_bytes(
        orjson.dumps(_json(evaluation), option=orjson.OPT_INDENT_2) + b"\n"
    )
    return Backtest(result, evaluation, report, sorted(drawn.values()))


def _span(files: Sequence[Path], tables: TableOptions | None) -> tuple[int, int]:
    """First and last receive time; the readers' notes are left for the replay to log."""
    first = last = None
    readers = logging.getLogger("liqmon.sources")
    level = readers.level
    readers.setLevel(logging.ERROR)
    try:
        for item, _ in merge([open_source(path, tables) for path in files]):
            if first is None:
                first = item.recv_ns
            last = item.recv_ns if last is None else max(last, item.recv_ns)
    finally:
        readers.setLevel(level)
    if first is None or last is None:
        msg = "the input holds no frames: nothing to backtest"
        raise ReplayError(msg)
    return first, last


def _whole_cycles(settings: Settings, every_ns: int) -> int:
    """`every_ns` rounded up to a whole number of risk cycles (at least one).

    A heatmap is taken at the latest cycle: two snapshot times within one cycle would give
    the same heatmap twice and count its fuel twice in the realisation ratio.
    """
    cycle = max(1, round(settings.risk.interval_s * NS))
    return max(1, math.ceil(every_ns / cycle)) * cycle


def _has_feed(venue: str, asset: str) -> bool:
    return params_for(venue, asset).has_liquidation_feed


def _tape(events: pl.DataFrame) -> pl.DataFrame:
    return (
        events.filter(pl.col("type") == "liquidation")
        .select(
            pl.col("ts_recv_ns").alias("ts_ns"),
            "venue",
            "symbol",
            pl.col("side").replace_strict(SIDE_OF_POSITION),
            pl.col("notional_usd").alias("usd"),
        )
        .cast(TAPE_SCHEMA)
    )


def _with_aggregates(tape: pl.DataFrame, assets: dict[tuple[str, str], str]) -> pl.DataFrame:
    """The tape again under each asset's aggregate market (`all`, asset), as alerts are."""
    mapping = pl.DataFrame(
        {
            "venue": [venue for venue, _ in assets],
            "symbol": [symbol for _, symbol in assets],
            "asset": list(assets.values()),
        },
        schema={"venue": pl.String, "symbol": pl.String, "asset": pl.String},
    )
    aggregate = tape.join(mapping, on=["venue", "symbol"], how="inner").select(
        "ts_ns", pl.lit(AGGREGATE).alias("venue"), pl.col("asset").alias("symbol"), "side", "usd"
    )
    return pl.concat([tape, aggregate], how="vertical").sort("ts_ns")


def _alerts(result: ReplayResult) -> pl.DataFrame:
    rows = [
        {
            "ts_ns": alert.ts_ns,
            "venue": alert.venue,
            "symbol": alert.symbol,
            "side": alert.side,
            "severity": alert.severity.value,
            "price": alert.price,
            "critical_shock_pct": alert.critical_shock_pct,
            "low_confidence": alert.low_confidence,
        }
        for alert in result.alerts
    ]
    schema = pl.Schema(
        {
            **ALERT_SCHEMA,
            "price": pl.Float64(),
            "critical_shock_pct": pl.Float64(),
            "low_confidence": pl.Boolean(),
        }
    )
    return pl.DataFrame(rows, schema=schema)


def _heatmap_frames(documents: list[dict[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The heatmap documents as a snapshot frame and an exploded bin frame.

    A market's heatmap at a cycle is kept once even if several snapshot times fell on it
    (the replay takes each time's latest cycle, and re-check cycles are not evenly spaced).
    """
    documents = list({(d["ts_ns"], d["venue"], d["symbol"]): d for d in documents}.values())
    snapshots = pl.DataFrame(
        [
            {k: d[k] for k in ("ts_ns", "venue", "symbol", "price")}
            for d in documents
            if d["price"] is not None
        ],
        schema=PRICE_SCHEMA,
    )
    bins = pl.DataFrame(
        [
            {"ts_ns": d["ts_ns"], "venue": d["venue"], "symbol": d["symbol"], "side": side, **b}
            for d in documents
            for side in ("down", "up")
            for b in d[side]
        ],
        schema=BIN_SCHEMA,
    )
    return snapshots, bins


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _figures(
    out: Path,
    evaluation: Evaluation,
    *,
    snapshots: pl.DataFrame,
    bins: pl.DataFrame,
    risk: pl.DataFrame,
    alerts: pl.DataFrame,
    settings: Settings,
) -> dict[tuple[str, str, str], Path]:
    """Each market's PNGs: heatmap and critical shock (with a price), liquidation windows."""
    drawn: dict[tuple[str, str, str], Path] = {}
    thresholds = (settings.alerts.warning_pct, settings.alerts.critical_pct)
    priced = risk.filter(pl.col("price").is_not_null())
    markets = pl.concat(
        [priced.select("venue", "symbol"), evaluation.windows.select("venue", "symbol")]
    )
    for venue, symbol in markets.unique().sort(["venue", "symbol"]).rows():
        market = (pl.col("venue") == venue) & (pl.col("symbol") == symbol)
        rows = priced.filter(market)
        chosen = alerts.filter(market & pl.col("severity").is_in(("warning", "critical")))
        bursts = evaluation.bursts.filter(market)
        name, slug = f"{venue} {symbol}", _slug(venue, symbol)
        if rows.height:
            drawn[(venue, symbol, "heatmap")] = out / f"heatmap-{slug}.png"
            figures.heatmap_figure(
                drawn[(venue, symbol, "heatmap")],
                f"{name}: modelled liquidation fuel, price, alerts",
                snapshots=snapshots.filter(market),
                bins=bins.filter(market),
                prices=rows.filter(pl.col("side") == "down").select("ts_ns", "price"),
                alerts=chosen,
                bursts=bursts,
            )
            drawn[(venue, symbol, "shock")] = out / f"shock-{slug}.png"
            figures.shock_figure(
                drawn[(venue, symbol, "shock")],
                f"{name}: critical shock",
                risk=rows,
                alerts=chosen,
                bursts=bursts,
                thresholds=thresholds,
            )
        windows = evaluation.windows.filter(market)
        if windows.height:
            drawn[(venue, symbol, "liquidations")] = out / f"liquidations-{slug}.png"
            figures.liquidation_figure(
                drawn[(venue, symbol, "liquidations")],
                f"{name}: liquidations per window",
                windows,
            )
    return drawn


# ---------------------------------------------------------------------- the report


def _usd(value: float | None) -> str:
    return "–" if value is None else f"${value:,.0f}"


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "–"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def render_markdown(
    evaluation: Evaluation,
    result: ReplayResult,
    *,
    options: BacktestOptions,
    files: Sequence[Path],
    drawn: dict[tuple[str, str, str], Path],
    no_feed: Sequence[str],
    heatmap_every_ns: int,
    risk: RiskSettings,
) -> str:
    """The report: period, definitions with their parameters, summary, then each market."""
    params = evaluation.params
    summary = result.summary()
    lines = [
        "# Backtest report",
        "",
        f"Command: `{options.command}`",
        "",
        f"- input: {', '.join(f'`{path.name}`' for path in files)}",
        f"- period: {iso_time(evaluation.start_ns)} – {iso_time(evaluation.end_ns)} "
        f"({evaluation.days * 24:.2f} h of simulated time)",
        f"- replay: {summary['frames']:,} frames, {summary['risk_cycles']:,} risk cycles; "
        f"alerts: {_counts(summary['alerts'])}; events: {_counts(summary['events'])}; "
        f"rejected: {_counts(summary['rejected'])}",
        f"- risk cycles every {_duration(risk.interval_s)} of simulated time "
        f"(`risk.interval_s`), inputs stale after {_duration(risk.stale_after_s)} "
        f"(`risk.stale_after_s`), heatmap snapshots every {_duration(heatmap_every_ns / NS)}",
    ]
    if no_feed:
        lines.append(
            f"- **no public liquidation feed** on {', '.join(no_feed)}: its tape is empty, "
            "so no burst can be seen there and its realisation ratio is 0 by construction"
        )
    lines += [
        "",
        "## Definitions",
        "",
        f"- **burst**: a run of consecutive {_duration(params.window_ns / NS)} windows "
        f"(aligned on UTC multiples) of one market and side whose liquidated USD is above "
        f"max({params.multiple:g} × the median of the {params.trailing_windows} windows "
        f"before it, {_usd(params.min_usd)}); the onset is its first liquidation. Side "
        "`down` = longs liquidated, `up` = shorts; `all` markets sum their asset's venues.",
        f"- **caught**: a warning or critical alert of that market and side fired within "
        f"{_duration(params.lookback_ns / NS)} before the onset; **lead time** = onset − "
        "the earliest such alert. Otherwise **missed**.",
        f"- **false alarm**: a warning or critical alert with no burst of its market and "
        f"side starting within {_duration(params.lookback_ns / NS)} after it, nor in "
        "progress at it. Per day: false alarms / length of the period in days.",
        "- **realisation ratio** (venue markets, per side): between consecutive heatmap "
        "snapshots the mark's low (`down`) or high (`up`), the next snapshot's price "
        "included, crosses part of the earlier snapshot's modelled fuel (bins counted by "
        "the crossed share of their log-price width). Ratio = liquidations of the tape in "
        "the intervals that crossed fuel ÷ the fuel crossed in them. Liquidations in "
        "intervals that crossed no fuel are listed apart. A sampled feed (Binance, OKX: "
        "at most one liquidation per symbol and second) makes it a lower bound.",
        "",
        "## Summary",
        "",
    ]
    header = [
        "market",
        "side",
        "liquidated",
        "bursts",
        "caught",
        "missed",
        "median lead",
        "alerts",
        "false alarms",
        "false / day",
        "fuel crossed",
        "realisation",
    ]
    rows = [
        [
            f"{row['venue']} {row['symbol']}",
            row["side"],
            _usd(row["liquidated_usd"]),
            str(row["bursts"]),
            str(row["caught"]),
            str(row["missed"]),
            _duration(row["median_lead_s"]),
            str(row["alerts"]),
            str(row["false_alarms"]),
            _number(row["false_alarms_per_day"], 1),
            _usd(row["fuel_crossed_usd"]),
            _number(row["ratio"], 3),
        ]
        for row in evaluation.summary.iter_rows(named=True)
    ]
    lines += _table(header, rows) if rows else ["No market had liquidations or alerts."]
    markets = sorted({(venue, symbol) for venue, symbol, _ in drawn})
    for venue, symbol in markets:
        lines += ["", f"## {venue} {symbol}", ""]
        lines += _market_section(evaluation, venue, symbol, drawn, options.out)
    return "\n".join(lines) + "\n"


def _market_section(
    evaluation: Evaluation,
    venue: str,
    symbol: str,
    drawn: dict[tuple[str, str, str], Path],
    out: Path,
) -> list[str]:
    market = (pl.col("venue") == venue) & (pl.col("symbol") == symbol)
    lines: list[str] = []
    for kind, caption in (
        ("heatmap", "fuel heatmap"),
        ("shock", "critical shock"),
        ("liquidations", "liquidations per window"),
    ):
        path = drawn.get((venue, symbol, kind))
        if path is not None:
            lines.append(f"![{venue} {symbol} {caption}]({path.relative_to(out).as_posix()})")
            lines.append("")
    bursts = evaluation.bursts.filter(market)
    if bursts.height:
        lines += ["Bursts:", ""]
        lines += _table(
            ["side", "onset", "windows", "liquidated", "first alert", "severity", "lead time"],
            [
                [
                    row["side"],
                    iso_time(row["onset_ns"]),
                    str(row["windows"]),
                    _usd(row["usd"]),
                    "missed" if row["first_alert_ns"] is None else iso_time(row["first_alert_ns"]),
                    row["first_severity"] or "–",
                    _duration(row["lead_s"]),
                ]
                for row in bursts.iter_rows(named=True)
            ],
        )
        lines.append("")
    else:
        lines += ["No liquidation burst.", ""]
    alerts = evaluation.alerts.filter(market)
    if alerts.height:
        false = alerts.filter(pl.col("false_alarm")).height
        lines += [f"Risk alerts: {alerts.height}, of which false alarms: {false}.", ""]
    ratios = evaluation.realisation.filter(market)
    if ratios.height:
        lines += ["Realisation of the modelled fuel:", ""]
        lines += _table(
            [
                "side",
                "intervals",
                "crossing fuel",
                "fuel crossed",
                "liquidated there",
                "liquidated elsewhere",
                "ratio",
            ],
            [
                [
                    row["side"],
                    str(row["intervals"]),
                    str(row["crossing_intervals"]),
                    _usd(row["fuel_crossed_usd"]),
                    _usd(row["liquidated_usd"]),
                    _usd(row["liquidated_elsewhere_usd"]),
                    _number(row["ratio"], 3),
                ]
                for row in ratios.iter_rows(named=True)
            ],
        )
        lines.append("")
    return lines


def _json(evaluation: Evaluation) -> dict[str, Any]:
    params = evaluation.params
    return {
        "start": iso_time(evaluation.start_ns),
        "start_ns": evaluation.start_ns,
        "end_ns": evaluation.end_ns,
        "end": iso_time(evaluation.end_ns),
        "days": evaluation.days,
        "params": {
            "window_s": params.window_ns / NS,
            "multiple": params.multiple,
            "trailing_windows": params.trailing_windows,
            "min_usd": params.min_usd,
            "lookback_s": params.lookback_ns / NS,
        },
        "summary": evaluation.summary.to_dicts(),
        "bursts": evaluation.bursts.to_dicts(),
        "realisation": evaluation.realisation.to_dicts(),
    }
