"""The on-disk outbox: FIFO, bounded with counted drops, durable across reopen and SIGKILL."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.sinks.outbox import Outbox, OutboxItem

REPO = Path(__file__).resolve().parent.parent


def test_items_come_out_in_order_and_ack_removes_them(tmp_path):
    box = Outbox(tmp_path / "out.db", max_items=100)
    for i in range(10):
        box.put(f"t/{i % 2}", f"p{i}".encode())
    assert len(box) == 10
    items = box.peek(4)
    assert [item.payload for item in items] == [b"p0", b"p1", b"p2", b"p3"]
    assert [item.topic for item in items] == ["t/0", "t/1", "t/0", "t/1"]
    assert all(isinstance(item, OutboxItem) for item in items)
    assert [item.seq for item in items] == sorted(item.seq for item in items)
    box.ack(items[0].seq)
    box.ack(items[1].seq)
    box.ack(items[1].seq)  # twice: ignored
    assert len(box) == 8
    assert [item.payload for item in box.peek()] == [f"p{i}".encode() for i in range(2, 10)]
    box.close()


def test_acking_out_of_order_keeps_the_rest_in_order(tmp_path):
    box = Outbox(tmp_path / "out.db", max_items=100)
    for i in range(5):
        box.put("t", bytes([i]))
    seqs = [item.seq for item in box.peek()]
    box.ack(seqs[2])
    box.put("t", bytes([5]))
    assert [item.payload for item in box.peek()] == [bytes([i]) for i in (0, 1, 3, 4, 5)]
    box.close()


def test_past_the_bound_the_oldest_are_dropped_and_counted(tmp_path):
    box = Outbox(tmp_path / "out.db", max_items=5)
    for i in range(12):
        box.put("t", str(i).encode())
    assert len(box) == 5
    assert box.dropped == 7
    assert [item.payload for item in box.peek()] == [str(i).encode() for i in range(7, 12)]
    box.close()


def test_items_survive_reopen_and_sequence_keeps_growing(tmp_path):
    path = tmp_path / "out.db"
    box = Outbox(path, max_items=100)
    for i in range(3):
        box.put("t", str(i).encode())
    last = box.peek()[-1].seq
    box.ack(last)  # the highest seq is gone: a new item must not reuse it
    box.close()

    again = Outbox(path, max_items=100)
    assert len(again) == 2
    assert [item.payload for item in again.peek()] == [b"0", b"1"]
    again.put("t", b"3")
    assert again.peek()[-1].seq > last
    again.close()


def test_a_lowered_bound_applies_on_reopen(tmp_path):
    path = tmp_path / "out.db"
    box = Outbox(path, max_items=100)
    for i in range(10):
        box.put("t", str(i).encode())
    box.close()
    small = Outbox(path, max_items=4)
    assert len(small) == 4
    assert small.dropped == 6
    assert [item.payload for item in small.peek()] == [b"6", b"7", b"8", b"9"]
    small.close()


def test_parent_directory_is_created(tmp_path):
    box = Outbox(tmp_path / "state" / "deeper" / "out.db", max_items=10)
    box.put("t", b"x")
    box.close()
    assert (tmp_path / "state" / "deeper" / "out.db").exists()


def test_items_survive_a_sigkilled_writer(tmp_path):
    path = tmp_path / "out.db"
    count = 200
    script = textwrap.dedent(
        f"""
        import os, signal
        from monitor.sinks.outbox import Outbox
        box = Outbox({str(path)!r}, max_items=10_000)
        for i in range({count}):
            box.put("alerts/x/" + str(i % 2), b"payload-%d" % i)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, timeout=60, capture_output=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    box = Outbox(path, max_items=10_000)
    assert len(box) == count
    items = box.peek(limit=count + 10)
    assert [item.payload for item in items] == [b"payload-%d" % i for i in range(count)]
    box.close()


def test_a_corrupt_file_is_set_aside_and_a_fresh_outbox_started(tmp_path, caplog):
    path = tmp_path / "out.db"
    garbage = b"this is not a database, " * 100
    path.write_bytes(garbage)
    with caplog.at_level(logging.ERROR, logger="liqmon.outbox"):
        box = Outbox(path, max_items=10)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "corrupt-" in errors[0].getMessage()
    aside = list(tmp_path.glob("out.db.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == garbage
    assert len(box) == 0
    box.put("t", b"fresh")
    assert [item.payload for item in box.peek()] == [b"fresh"]
    box.close()
    assert len(Outbox(path, max_items=10)) == 1  # the fresh file is a good file


def test_a_database_of_another_shape_is_set_aside(tmp_path, caplog):
    path = tmp_path / "out.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT)")
    db.commit()
    db.close()
    with caplog.at_level(logging.ERROR, logger="liqmon.outbox"):
        box = Outbox(path, max_items=10)
    assert len(list(tmp_path.glob("out.db.corrupt-*"))) == 1
    box.put("t", b"x")
    assert len(box) == 1
    box.close()


def test_max_items_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        Outbox(tmp_path / "out.db", max_items=0)
