"""Black-box tests of the installed `liqmon estimate` console script (model-spec §4).

The script is run as a subprocess exactly as a user runs it: `liqmon estimate FILE` and
`liqmon estimate -` (stdin).  Good input prints one JSON object and exits 0; every class of
bad input exits 2 with exactly one line on stderr and nothing on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reference_model import reference_estimate  # tests/ is on sys.path (pytest)

_LIQMON = shutil.which("liqmon")
COMMAND: list[str] = [_LIQMON] if _LIQMON else [sys.executable, "-m", "monitor"]

SPEC_INPUT_TEXT = """{
  "price": 100000.0,
  "long_levels":  [[97500.0, 2.5e7], [96000.0, 8.0e7]],
  "short_levels": [[103000.0, 4.0e7]],
  "bids": [[99990.0, 1.2], [99950.0, 3.4]],
  "asks": [[100010.0, 0.9]],
  "params": {"bin_bps": 10, "max_bins": 300, "max_shock_bins": 200,
             "withdrawal": 1.0, "psi": 1.0, "jump_threshold_pct": 0.5,
             "depth_exponent": 1.16, "daily_volume_usd": null, "daily_volatility": null}
}
"""
SPEC_INPUT: dict[str, Any] = json.loads(SPEC_INPUT_TEXT)

SIDE_KEYS = {
    "critical_shock_pct",
    "critical_sell_usd",
    "runaway_at_critical",
    "final_move_pct",
    "runaway",
    "fuel_usd_within_pct",
    "depth_usd_within_pct",
    "max_branching_ratio_within_2pct",
}
SHOCK_KEYS = {"1", "2", "3", "5"}
WITHIN_KEYS = {"0.5", "1", "2", "5", "10"}
PARAMS_KEYS = (
    "bin_bps",
    "max_bins",
    "max_shock_bins",
    "withdrawal",
    "psi",
    "jump_threshold_pct",
    "depth_exponent",
    "daily_volume_usd",
    "daily_volatility",
)
TOP_LEVEL_KEYS = ("price", "long_levels", "short_levels", "bids", "asks", "params")


def run_estimate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "estimate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} in output")


def parse_stdout(stdout: str) -> Any:
    """Parse stdout as one strict JSON value (NaN/Infinity are not JSON)."""
    return json.loads(stdout, parse_constant=_reject_constant)


def assert_side_shape(side: Any) -> None:
    assert isinstance(side, dict)
    assert set(side) == SIDE_KEYS
    for key in ("critical_shock_pct", "critical_sell_usd"):
        value = side[key]
        assert value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    assert isinstance(side["runaway_at_critical"], bool)
    assert set(side["final_move_pct"]) <= SHOCK_KEYS
    assert set(side["runaway"]) == set(side["final_move_pct"])
    assert all(isinstance(v, bool) for v in side["runaway"].values())
    for key in ("fuel_usd_within_pct", "depth_usd_within_pct"):
        assert set(side[key]) == WITHIN_KEYS
        assert all(isinstance(v, int | float) and v >= 0 for v in side[key].values())
    assert isinstance(side["max_branching_ratio_within_2pct"], int | float)


def assert_close_to_reference(got: Any, want: Any) -> None:
    """Structure, booleans and nulls equal; numbers within rel 1e-9 / abs 1e-6."""
    if isinstance(want, dict):
        assert isinstance(got, dict)
        assert set(got) == set(want)
        for key in want:
            if key == "errors":
                assert set(got[key]) == set(want[key])
            else:
                assert_close_to_reference(got[key], want[key])
    elif want is None or isinstance(want, bool):
        assert got is want
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


# ---- good input ------------------------------------------------------------------------


def test_estimate_file(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(SPEC_INPUT_TEXT, encoding="utf-8")
    result = run_estimate(str(path))
    assert result.returncode == 0, result.stderr
    out = parse_stdout(result.stdout)
    assert set(out) == {"down", "up"}
    assert_side_shape(out["down"])
    assert_side_shape(out["up"])
    assert set(out["down"]["final_move_pct"]) == SHOCK_KEYS  # K = 300 bins of 10 bp
    assert_close_to_reference(out, reference_estimate(SPEC_INPUT))


def test_estimate_stdin() -> None:
    result = run_estimate("-", stdin=SPEC_INPUT_TEXT)
    assert result.returncode == 0, result.stderr
    out = parse_stdout(result.stdout)
    assert set(out) == {"down", "up"}
    assert_side_shape(out["down"])
    assert_side_shape(out["up"])
    assert_close_to_reference(out, reference_estimate(SPEC_INPUT))


def test_estimate_file_and_stdin_agree(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(SPEC_INPUT_TEXT, encoding="utf-8")
    assert run_estimate(str(path)).stdout == run_estimate("-", stdin=SPEC_INPUT_TEXT).stdout


def test_estimate_help_mentions_every_input_key() -> None:
    result = run_estimate("--help")
    assert result.returncode == 0, result.stderr
    for key in TOP_LEVEL_KEYS + PARAMS_KEYS:
        assert key in result.stdout, f"--help does not mention {key!r}"


def test_estimate_empty_book_without_volume_is_null_not_an_error(tmp_path: Path) -> None:
    doc = {**SPEC_INPUT, "bids": [], "asks": []}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run_estimate(str(path))
    assert result.returncode == 0, result.stderr
    out = parse_stdout(result.stdout)
    assert out["down"] is None
    assert out["up"] is None
    assert set(out["errors"]) == {"down", "up"}
    assert all(isinstance(v, str) and v for v in out["errors"].values())


def test_estimate_one_empty_side(tmp_path: Path) -> None:
    doc = {**SPEC_INPUT, "bids": [[99990.0, 0.0]]}  # zero-size levels count as empty
    path = tmp_path / "one_side.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run_estimate(str(path))
    assert result.returncode == 0, result.stderr
    out = parse_stdout(result.stdout)
    assert out["down"] is None
    assert_side_shape(out["up"])
    assert set(out["errors"]) == {"down"}
    assert_close_to_reference(out, reference_estimate(doc))


def test_estimate_square_root_law_when_book_empty(tmp_path: Path) -> None:
    doc = {
        **SPEC_INPUT,
        "bids": [],
        "asks": [],
        "params": {"daily_volume_usd": 2e10, "daily_volatility": 0.03},
    }
    path = tmp_path / "sqrt.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run_estimate(str(path))
    assert result.returncode == 0, result.stderr
    out = parse_stdout(result.stdout)
    assert "errors" not in out
    assert_close_to_reference(out, reference_estimate(doc))


def test_estimate_empty_params_means_defaults(tmp_path: Path) -> None:
    """Every params key is optional; an empty params object means all defaults."""
    doc = {**SPEC_INPUT, "params": {}}
    path = tmp_path / "defaults.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = run_estimate(str(path))
    assert result.returncode == 0, result.stderr
    assert_close_to_reference(parse_stdout(result.stdout), reference_estimate(SPEC_INPUT))


# ---- bad input ---------------------------------------------------------------------------


def _with(**changes: Any) -> str:
    doc = json.loads(SPEC_INPUT_TEXT)
    doc.update(changes)
    return json.dumps(doc)


def _with_params(**changes: Any) -> str:
    doc = json.loads(SPEC_INPUT_TEXT)
    doc["params"].update(changes)
    return json.dumps(doc)


def _replace(old: str, new: str) -> str:
    assert old in SPEC_INPUT_TEXT
    return SPEC_INPUT_TEXT.replace(old, new, 1)


def _without_price() -> str:
    doc = json.loads(SPEC_INPUT_TEXT)
    del doc["price"]
    return json.dumps(doc)


BAD_INPUTS: dict[str, str] = {
    "malformed JSON": '{"price": 100000.0, "bids": [',
    "empty input": "",
    "trailing garbage": SPEC_INPUT_TEXT + "}",
    "top level is a list": "[1, 2, 3]",
    "top level is a number": "42",
    "top level is a string": '"price"',
    "top level is null": "null",
    "unknown top-level key": _with(volume=1.0),
    "unknown params key": _with_params(kappa=1.2),
    "NaN price": _replace('"price": 100000.0', '"price": NaN'),
    "Infinity price": _replace('"price": 100000.0', '"price": Infinity'),
    "-Infinity price": _replace('"price": 100000.0', '"price": -Infinity'),
    "NaN level price": _replace("[97500.0, 2.5e7]", "[NaN, 2.5e7]"),
    "Infinity level notional": _replace("[97500.0, 2.5e7]", "[97500.0, Infinity]"),
    "NaN book size": _replace("[99990.0, 1.2]", "[99990.0, NaN]"),
    "Infinity ask price": _replace("[100010.0, 0.9]", "[Infinity, 0.9]"),
    "NaN params withdrawal": _replace('"withdrawal": 1.0', '"withdrawal": NaN'),
    "Infinity params volume": _replace('"daily_volume_usd": null', '"daily_volume_usd": Infinity'),
    "NaN params psi": _replace('"psi": 1.0', '"psi": NaN'),
    "negative long notional": _replace("[97500.0, 2.5e7]", "[97500.0, -2.5e7]"),
    "negative short notional": _replace("[103000.0, 4.0e7]", "[103000.0, -4.0e7]"),
    "negative bid size": _replace("[99990.0, 1.2]", "[99990.0, -1.2]"),
    "negative ask size": _replace("[100010.0, 0.9]", "[100010.0, -0.9]"),
    "price 0": _with(price=0.0),
    "price negative": _with(price=-100000.0),
    "price missing": _without_price(),
    "price null": _with(price=None),
    "price string": _with(price="100000.0"),
    "price empty string": _with(price=""),
    "price boolean": _with(price=True),
    "price list": _with(price=[100000.0]),
    "level with one element": _with(long_levels=[[97500.0]]),
    "level with three elements": _with(long_levels=[[97500.0, 2.5e7, 1.0]]),
    "level is a number": _with(long_levels=[97500.0, 2.5e7]),
    "level is an object": _with(bids=[{"price": 99990.0, "size": 1.2}]),
    "level is empty": _with(asks=[[]]),
    "level price is a string": _with(bids=[["99990.0", 1.2]]),
    "level size is a boolean": _with(bids=[[99990.0, True]]),
    "level notional is null": _with(short_levels=[[103000.0, None]]),
    "levels is an object": _with(long_levels={"97500.0": 2.5e7}),
    "levels is a string": _with(short_levels="[]"),
    "levels is a number": _with(bids=5),
    "params is a list": _with(params=[]),
    "params is a string": _with(params="{}"),
    "params is a number": _with(params=1),
    "withdrawal 0": _with_params(withdrawal=0.0),
    "withdrawal above 1": _with_params(withdrawal=1.5),
    "withdrawal negative": _with_params(withdrawal=-0.5),
    "psi 0": _with_params(psi=0.0),
    "psi above 1": _with_params(psi=1.01),
    "max_bins 0": _with_params(max_bins=0),
    "max_bins non-integer": _with_params(max_bins=2.5),
    "max_bins negative": _with_params(max_bins=-10),
    "max_bins boolean": _with_params(max_bins=True),
    "max_shock_bins non-integer": _with_params(max_shock_bins=1.5),
    "bin_bps 0": _with_params(bin_bps=0),
    "bin_bps negative": _with_params(bin_bps=-10),
    "negative jump threshold": _with_params(jump_threshold_pct=-0.5),
    "negative daily volume": _with_params(daily_volume_usd=-1.0),
    "daily volatility 0": _with_params(daily_volatility=0.0),
    "params value is a string": _with_params(psi="1.0"),
}


def assert_rejected(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", f"stdout must be empty, got {result.stdout!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {result.stderr!r}"
    assert lines[0].strip(), "the error line is blank"


@pytest.mark.parametrize("text", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_estimate_rejects_bad_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    assert_rejected(run_estimate(str(path)))


@pytest.mark.parametrize(
    "name", ["malformed JSON", "top level is a list", "NaN price", "negative bid size"]
)
def test_estimate_rejects_bad_stdin(name: str) -> None:
    assert_rejected(run_estimate("-", stdin=BAD_INPUTS[name]))


def test_estimate_rejects_nonexistent_file(tmp_path: Path) -> None:
    assert_rejected(run_estimate(str(tmp_path / "does-not-exist.json")))


def test_estimate_rejects_directory(tmp_path: Path) -> None:
    assert_rejected(run_estimate(str(tmp_path)))


def test_estimate_rejects_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"price": 1\xff}')
    assert_rejected(run_estimate(str(path)))


# ---- extreme but well-formed input -----------------------------------------------------

_HUGE_INT = "1" + "0" * 400  # a valid JSON number that no float can hold

EXTREME_INPUTS: dict[str, str] = {
    "price is a huge integer": (
        f'{{"price": {_HUGE_INT}, "long_levels": [], "short_levels": [], "bids": [], "asks": []}}'
    ),
    "notional is a huge integer": (
        f'{{"price": 100.0, "long_levels": [[99.0, {_HUGE_INT}]], "short_levels": [],'
        ' "bids": [[99.9, 1.0]], "asks": []}'
    ),
    "max_shock_bins is a huge integer": (
        '{"price": 100.0, "long_levels": [], "short_levels": [], "bids": [[99.9, 1.0]],'
        f' "asks": [], "params": {{"max_shock_bins": {_HUGE_INT}}}}}'
    ),
    "level/price ratio overflows": (
        '{"price": 1e-300, "long_levels": [], "short_levels": [], "bids": [],'
        ' "asks": [[1e300, 1.0]]}'
    ),
    "distance/bin width overflows": (
        '{"price": 100.0, "long_levels": [], "short_levels": [], "bids": [[99.0, 1.0]],'
        ' "asks": [], "params": {"bin_bps": 1e-300}}'
    ),
    "fuel sum overflows": (
        '{"price": 100.0, "long_levels": [[99.0, 1e308], [99.0, 1e308]], "short_levels": [],'
        ' "bids": [[99.9, 1.0]], "asks": []}'
    ),
    "book depth overflows": (
        '{"price": 100.0, "long_levels": [], "short_levels": [], "bids": [[99.9, 1e307]],'
        ' "asks": []}'
    ),
    "square-root law overflows": (
        '{"price": 100.0, "long_levels": [], "short_levels": [], "bids": [], "asks": [],'
        ' "params": {"daily_volume_usd": 1e308, "daily_volatility": 1e-300}}'
    ),
    "jump threshold overflows": (
        '{"price": 100.0, "long_levels": [], "short_levels": [], "bids": [[99.9, 1.0]],'
        ' "asks": [], "params": {"jump_threshold_pct": 1e308}}'
    ),
    "branching ratio overflows": (
        '{"price": 100.0, "long_levels": [[99.99, 1e9]], "short_levels": [],'
        ' "bids": [[99.99, 1.0]], "asks": [], "params": {"withdrawal": 5e-324}}'
    ),
}


@pytest.mark.parametrize("text", EXTREME_INPUTS.values(), ids=EXTREME_INPUTS.keys())
def test_estimate_extreme_input_never_crashes(tmp_path: Path, text: str) -> None:
    """Either a strict-JSON answer (exit 0) or a clean rejection (exit 2): no traceback/abort.

    §4 allows only two outcomes: one JSON object on stdout (JSON has no NaN/Infinity), or a
    one-line error on stderr with exit code 2 and nothing on stdout.
    """
    path = tmp_path / "extreme.json"
    path.write_text(text, encoding="utf-8")
    result = run_estimate(str(path))
    if result.returncode == 0:
        out = parse_stdout(result.stdout)
        assert isinstance(out, dict)
        assert {"down", "up"} <= set(out)
    else:
        assert_rejected(result)
