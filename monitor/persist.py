"""Ledger snapshots on disk: one file holding every (venue, symbol) ledger.

`save_ledgers` writes atomically: a temporary file in the same directory, flushed and
fsynced, renamed over the snapshot (`os.replace`), then the directory is fsynced. A crash
at any instant leaves either the previous snapshot or the new one, never a mix; a crash
before the rename leaves a stray `.<name>.<random>.tmp` file that the next
`load_ledgers` removes.

`load_ledgers` never raises: start-up must not depend on a file being healthy. It
answers with a `Restored` whose `status` says what happened:

- ``restored``: the file was read; `ledgers` holds every entry that fits today's params;
- ``missing``: no file (first start, or state deleted);
- ``too_old``: written more than `max_age_s` ago; left in place, not used;
- ``corrupt``: unreadable, truncated, bad checksum or malformed header;
- ``incompatible``: another format version, or no entry fits today's params.

A corrupt or incompatible file is renamed aside to ``<name>.corrupt-<now_ns>`` (kept for
inspection, out of the way of the next save) and the outcome is logged once.

File format, version 1 (integers little-endian)::

    magic    8 bytes   b"LIQMONLS"
    version  u32       FORMAT_VERSION
    hlen     u32       length of the header
    plen     u64       length of the payload
    header   hlen      UTF-8 JSON: {"written_ns": int, "entries": [...]}, one entry per
                       ledger with venue, symbol and the scalars of `LedgerState`
    payload  plen      per entry, in header order: quantity then legacy, float64 ('<f8'),
                       C order, shape (2, len(tiers), hi - lo)
    digest   32 bytes  SHA-256 of everything before it

No pickle anywhere: the header is JSON (floats round-trip exactly) and the arrays are raw.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from monitor.core.ledger import IncompatibleStateError, Ledger, LedgerState
from monitor.core.venues import VenueParams

log = logging.getLogger("liqmon.state")

MAGIC = b"LIQMONLS"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIQ")  # magic, version, header length, payload length
_DIGEST_SIZE = hashlib.sha256().digest_size
_FLOAT = np.dtype("<f8")

Status = Literal["restored", "missing", "too_old", "corrupt", "incompatible"]
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Restored:
    """What `load_ledgers` found: the ledgers to resume from, and why (not) others.

    `dropped` names the entries of a read file that did not fit today's params, each with
    the reason; `set_aside` is where a corrupt or incompatible file was moved.
    """

    ledgers: dict[Key, Ledger]
    status: Status
    detail: str
    dropped: dict[Key, str] = field(default_factory=dict)
    written_ns: int | None = None
    set_aside: Path | None = None


class _CorruptError(Exception):
    """The file cannot be trusted or parsed."""


class _VersionError(Exception):
    """The file is intact but written in another format version."""


# --------------------------------------------------------------------------- save


def save_ledgers(path: str | Path, states: Mapping[Key, LedgerState], now_ns: int) -> None:
    """Write every ledger state to `path` atomically; creates the directory.

    `states` are values from `Ledger.to_state`, so this may run on any thread. Raises
    `OSError` when the disk refuses (the previous snapshot is then untouched) and
    `ValueError` for a state that is not internally consistent.
    """
    path = Path(path)
    entries: list[dict[str, Any]] = []
    arrays: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    for (venue, symbol), state in sorted(states.items()):
        shape = (2, len(state.tiers), state.hi - state.lo)
        if state.quantity.shape != shape or state.legacy.shape != shape:
            msg = f"state of {venue}/{symbol}: arrays do not have shape {shape}"
            raise ValueError(msg)
        entries.append(_entry_header(venue, symbol, state))
        arrays.extend(np.ascontiguousarray(a, dtype=_FLOAT) for a in (state.quantity, state.legacy))
    header = json.dumps(
        {"written_ns": int(now_ns), "entries": entries}, allow_nan=False, separators=(",", ":")
    ).encode()
    payload_len = sum(a.nbytes for a in arrays)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header), payload_len)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            digest = hashlib.sha256()
            for chunk in _chunks(prefix, header, arrays):
                digest.update(chunk)
                file.write(chunk)
            file.write(digest.digest())
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _entry_header(venue: str, symbol: str, state: LedgerState) -> dict[str, Any]:
    return {
        "venue": venue,
        "symbol": symbol,
        "tiers": [float(t) for t in state.tiers],
        "contract_type": str(state.contract_type),
        "entry_bin": float(state.entry_bin),
        "entry_bins": int(state.entry_bins),
        "anchor_log": float(state.anchor_log),
        "lo": int(state.lo),
        "hi": int(state.hi),
        "open_interest": float(state.open_interest),
        "mark_price": float(state.mark_price),
        "anomalies": int(state.anomalies),
        "pending_anomalies": int(state.pending_anomalies),
        "gap": bool(state.gap),
    }


def _chunks(
    prefix: bytes, header: bytes, arrays: list[np.ndarray[Any, np.dtype[np.float64]]]
) -> Iterator[bytes | memoryview]:
    yield prefix
    yield header
    for array in arrays:
        if array.size:  # memoryview cannot cast an empty N-d view
            yield array.data.cast("B")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- load


def load_ledgers(
    path: str | Path,
    params_for: Callable[[str, str], VenueParams],
    now_ns: int,
    max_age_s: float,
) -> Restored:
    """Read the snapshot at `path` back into ledgers; never raises (see module doc).

    `params_for(venue, symbol)` gives today's parameters of each entry; an entry it
    refuses (raises) or whose state does not fit them (`Ledger.from_state` raises
    `IncompatibleStateError`, e.g. the venue's tier table changed) is dropped *alone*
    and named in `dropped` and `detail`: ledgers are independent of each other, so one
    venue's changed config should not throw away the warm state of all the others, and
    the dropped one simply cold-starts as if the file were missing. Only when no entry
    fits is the whole file `incompatible` and set aside. A file written "in the future"
    (clock stepped back) counts as age 0.
    """
    path = Path(path)
    _remove_stray_temporaries(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return _report(Restored({}, "missing", f"no snapshot at {path}; starting cold"))
    except OSError as error:
        return _set_aside(path, now_ns, "corrupt", f"cannot read {path}: {error}")
    return _restore(path, blob, params_for, now_ns, max_age_s)


def _restore(
    path: Path,
    blob: bytes,
    params_for: Callable[[str, str], VenueParams],
    now_ns: int,
    max_age_s: float,
) -> Restored:
    try:
        written_ns, entries = _parse(blob)
    except _VersionError as error:
        return _set_aside(path, now_ns, "incompatible", f"{path}: {error}")
    except _CorruptError as error:
        return _set_aside(path, now_ns, "corrupt", f"{path}: {error}")

    age_s = max(0.0, (now_ns - written_ns) / 1e9)
    if not age_s <= max_age_s:
        detail = f"{path} is {age_s:.0f} s old (limit {max_age_s:g} s): not used; starting cold"
        return _report(Restored({}, "too_old", detail, written_ns=written_ns))

    ledgers: dict[Key, Ledger] = {}
    dropped: dict[Key, str] = {}
    for key, state in entries:
        try:
            ledgers[key] = Ledger.from_state(params_for(*key), state)
        except IncompatibleStateError as error:
            dropped[key] = f"{error.reason}: {error}"
        except Exception as error:  # a caller's lookup must not stop start-up
            dropped[key] = f"no params: {error!r}"
    listed = "; ".join(f"{v}/{s} ({why})" for (v, s), why in sorted(dropped.items()))
    if entries and not ledgers:
        detail = f"{path}: no entry fits the current parameters: {listed}"
        return _set_aside(
            path, now_ns, "incompatible", detail, dropped=dropped, written_ns=written_ns
        )
    detail = f"restored {len(ledgers)} ledger(s) from {path}, {age_s:.0f} s old"
    if dropped:
        detail += f"; dropped {len(dropped)} that no longer fit: {listed}"
    return _report(Restored(ledgers, "restored", detail, dropped, written_ns))


def _parse(blob: bytes) -> tuple[int, list[tuple[Key, LedgerState]]]:
    if len(blob) < _PREFIX.size + _DIGEST_SIZE:
        raise _CorruptError(f"truncated: {len(blob)} bytes")
    magic, version, header_len, payload_len = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise _CorruptError("not a liqmon ledger snapshot (bad magic)")
    if version != FORMAT_VERSION:
        raise _VersionError(f"format version {version}, this build reads {FORMAT_VERSION}")
    expected = _PREFIX.size + header_len + payload_len + _DIGEST_SIZE
    if len(blob) != expected:
        raise _CorruptError(f"truncated or padded: {len(blob)} bytes, expected {expected}")
    body = memoryview(blob)[:-_DIGEST_SIZE]
    if hashlib.sha256(body).digest() != blob[-_DIGEST_SIZE:]:
        raise _CorruptError("checksum mismatch")
    start = _PREFIX.size
    try:
        header = json.loads(blob[start : start + header_len])
        written_ns = header["written_ns"]
        raw_entries = header["entries"]
        if type(written_ns) is not int or not isinstance(raw_entries, list):
            raise _CorruptError("malformed header")
        offset = start + header_len
        entries: list[tuple[Key, LedgerState]] = []
        for raw in raw_entries:
            key, state, offset = _entry(raw, blob, offset)
            entries.append((key, state))
    except (ValueError, KeyError, TypeError) as error:
        raise _CorruptError(f"malformed header: {error}") from error
    if offset != len(blob) - _DIGEST_SIZE:
        raise _CorruptError("payload length does not match the entries")
    if len({key for key, _ in entries}) != len(entries):
        raise _CorruptError("duplicate (venue, symbol) entries")
    return written_ns, entries


def _entry(raw: dict[str, Any], blob: bytes, offset: int) -> tuple[Key, LedgerState, int]:
    venue, symbol = raw["venue"], raw["symbol"]
    if not (isinstance(venue, str) and isinstance(symbol, str) and venue and symbol):
        raise _CorruptError("entry without venue or symbol")
    tiers = tuple(float(t) for t in raw["tiers"])
    lo, hi = raw["lo"], raw["hi"]
    if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi:
        raise _CorruptError(f"{venue}/{symbol}: bad window [{lo!r}, {hi!r})")
    shape = (2, len(tiers), hi - lo)
    count = math.prod(shape)
    end = offset + 2 * count * _FLOAT.itemsize
    if end > len(blob) - _DIGEST_SIZE:
        raise _CorruptError(f"{venue}/{symbol}: payload shorter than its arrays")
    quantity, legacy = (
        np.frombuffer(blob, dtype=_FLOAT, count=count, offset=offset + i * count * 8)
        .astype(np.float64, copy=False)
        .reshape(shape)
        for i in (0, 1)
    )
    state = LedgerState(
        tiers=tiers,
        contract_type=str(raw["contract_type"]),
        entry_bin=float(raw["entry_bin"]),
        entry_bins=raw["entry_bins"],
        anchor_log=float(raw["anchor_log"]),
        lo=lo,
        hi=hi,
        quantity=quantity,
        legacy=legacy,
        open_interest=float(raw["open_interest"]),
        mark_price=float(raw["mark_price"]),
        anomalies=raw["anomalies"],
        pending_anomalies=raw["pending_anomalies"],
        gap=raw["gap"],
    )
    return (venue, symbol), state, end


def _set_aside(
    path: Path,
    now_ns: int,
    status: Status,
    detail: str,
    *,
    dropped: dict[Key, str] | None = None,
    written_ns: int | None = None,
) -> Restored:
    aside = path.with_name(f"{path.name}.corrupt-{now_ns}")
    try:
        os.replace(path, aside)
    except OSError as error:
        detail += f"; could not set it aside: {error}"
        moved = None
    else:
        detail += f"; set aside as {aside.name}; starting cold"
        moved = aside
    return _report(Restored({}, status, detail, dropped or {}, written_ns, moved))


def _remove_stray_temporaries(path: Path) -> None:
    """Temporary files of saves that never reached their rename (process killed)."""
    with contextlib.suppress(OSError):
        for stray in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()


def _report(restored: Restored) -> Restored:
    quiet = restored.status in ("restored", "missing") and not restored.dropped
    log.log(logging.INFO if quiet else logging.WARNING, "ledger state: %s", restored.detail)
    return restored
