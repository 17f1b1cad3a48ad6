"""The engine contract, run on the in-process engine and on a two-worker pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bigfit.engine import Engine, get_engine
from bigfit.testing import EngineContract


class TestInProcess(EngineContract):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Iterator[Engine]:
        with get_engine("local") as engine:
            yield engine


class TestProcessPool(EngineContract):
    tasks_in_separate_processes = True

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Iterator[Engine]:
        with get_engine("local[2]") as engine:
            yield engine
