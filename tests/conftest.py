"""Shared fixtures: a real mosquitto broker (see tests/broker.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Mosquitto, mosquitto_binary


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A started broker on 127.0.0.1 and a free port; stopped at teardown."""
    if mosquitto_binary() is None:
        if os.environ.get("CI"):
            pytest.fail(
                "mosquitto is not installed; .ci/run installs it (apt-get install mosquitto)"
            )
        pytest.skip("mosquitto is not installed")
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
