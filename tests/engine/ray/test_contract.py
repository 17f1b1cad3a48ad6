"""The engine contract on Ray, including a worker killed in the middle of a map."""

from __future__ import annotations

import pytest

from bigfit.engine import Engine
from bigfit.engine.ray import RayEngine
from bigfit.testing import EngineContract


class TestRay(EngineContract):
    tasks_in_separate_processes = True

    @pytest.fixture
    @classmethod
    def engine(cls, ray_engine: RayEngine) -> Engine:
        return ray_engine
