"""A bounded, on-disk FIFO of (topic, payload) that keeps alerts until a sink delivered them.

One SQLite file per sink, in WAL mode: a `put` is committed before it returns, so the item
survives the process being killed (SIGKILL, OOM) at any later instant; `synchronous=NORMAL`
trades the last few commits on a power loss for not calling fsync on every alert. Items
carry a sequence number that only grows (AUTOINCREMENT), so a sink acknowledges exactly the
item it delivered even while new ones arrive.

Past `max_items` the oldest items are deleted and counted in `dropped`. A file that SQLite
cannot read as a database is renamed aside (`<name>.corrupt-<unix_ns>`, with its -wal and
-shm companions) and a fresh outbox is started, so a damaged file never stops the daemon.
Runtime SQLite errors (disk full, I/O) are logged, never raised into the caller: an item
that cannot be stored counts as dropped.

All methods are synchronous and meant for one thread (the event loop's); they touch only a
small local file.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("liqmon.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
)
"""
_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored message; `seq` is what `Outbox.ack` takes."""

    seq: int
    topic: str
    payload: bytes


class Outbox:
    """Bounded FIFO of (topic, payload) in the SQLite file at `path`."""

    def __init__(self, path: str | Path, max_items: int) -> None:
        if max_items < 1:
            msg = f"max_items must be positive, got {max_items}"
            raise ValueError(msg)
        self.path = Path(path)
        self.max_items = max_items
        self.dropped = 0
        """Items deleted unsent because the bound was reached (or that could not be stored)."""
        self._db = self._open()
        self._count: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if self._count > self.max_items:  # the bound was lowered since the last run
            self._trim()

    # ------------------------------------------------------------------ opening

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._connect(self.path)
        except sqlite3.DatabaseError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc.strerror or exc}"
        aside = self._set_aside()
        if aside is not None:
            log.error(
                "outbox %s is unreadable (%s); moved it to %s and started an empty one",
                self.path,
                reason,
                aside.name,
            )
            with contextlib.suppress(sqlite3.Error, OSError):
                return self._connect(self.path)
        log.error(
            "outbox %s is unusable (%s); keeping alerts in memory only until restart",
            self.path,
            reason,
        )
        return self._connect(":memory:")

    @staticmethod
    def _connect(path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            db.execute("SELECT seq, topic, payload FROM outbox LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self) -> Path | None:
        """Rename the file and its companions; None when there is none or it cannot be."""
        suffix = f".corrupt-{time.time_ns()}"
        aside = self.path.with_name(self.path.name + suffix)
        try:
            if not self.path.exists():
                return None
            self.path.rename(aside)
            for extra in _COMPANIONS:
                companion = self.path.with_name(self.path.name + extra)
                if companion.exists():
                    companion.rename(aside.with_name(aside.name + extra))
        except OSError:
            return None
        return aside

    # ------------------------------------------------------------------ the queue

    def put(self, topic: str, payload: bytes) -> None:
        """Append one item, committed when this returns; past the bound drop the oldest."""
        try:
            self._db.execute("INSERT INTO outbox (topic, payload) VALUES (?, ?)", (topic, payload))
        except sqlite3.Error as exc:
            self.dropped += 1
            log.error("outbox %s: cannot store an item for %s: %s", self.path, topic, exc)
            return
        self._count += 1
        if self._count > self.max_items:
            self._trim()

    def _trim(self) -> None:
        excess = self._count - self.max_items
        try:
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                (excess,),
            )
        except sqlite3.Error as exc:
            log.error("outbox %s: cannot drop the oldest items: %s", self.path, exc)
            return
        self._count -= cursor.rowcount
        self.dropped += cursor.rowcount

    def peek(self, limit: int = 100) -> list[OutboxItem]:
        """Up to `limit` items, oldest first, without removing them."""
        try:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        except sqlite3.Error as exc:
            log.error("outbox %s: cannot read: %s", self.path, exc)
            return []
        return [OutboxItem(seq, topic, bytes(payload)) for seq, topic, payload in rows]

    def ack(self, seq: int) -> None:
        """Remove the item `seq` (delivered); an unknown `seq` is ignored."""
        try:
            cursor = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:  # it stays, and is sent again: at least once
            log.error("outbox %s: cannot remove item %d: %s", self.path, seq, exc)
            return
        self._count -= cursor.rowcount

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Close the database; the items stay on disk for the next start."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
