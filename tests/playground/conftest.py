"""Fixtures of the Arena's tests: a fake-preset engine with the `reviews` prompt set and a SQLite store."""

from __future__ import annotations

import dataclasses

import pytest

from backends.engine import Engine
from storage import Retry, Store

FAST = Retry(attempts=2, base_s=0.01, max_s=0.02)


@pytest.fixture(scope="module")
def arena_engine(fake_preset) -> Engine:
    return Engine(device="cpu", presets={"fake": dataclasses.replace(fake_preset, prompt_sets=("reviews",))})


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///" + str(tmp_path / "t.db"), retry=FAST, busy_timeout_ms=50) as s:
        yield s
