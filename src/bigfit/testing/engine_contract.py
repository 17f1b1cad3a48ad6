"""The tests every engine must pass.

Subclass :class:`EngineContract` in a test module, under a name pytest collects, and
provide an ``engine`` fixture (class scope keeps one engine warm for all tests)::

    class TestLocalPool(EngineContract):
        tasks_in_separate_processes = True

        @pytest.fixture(scope="class")
        @classmethod
        def engine(cls):
            with get_engine("local[2]") as engine:
                yield engine
"""

from __future__ import annotations

import functools
import operator
import os
import random
import signal
import time
import traceback
from typing import Any, ClassVar

import numpy as np
import pytest

from bigfit.engine.base import Engine, tree_combine
from bigfit.exceptions import TaskError

_KILLED_ITEM = 13


class EngineContract:
    """Tests of the :class:`~bigfit.engine.Engine` contract, shared by every engine.

    Attributes
    ----------
    tasks_in_separate_processes : bool
        Set to ``True`` in a subclass whose tasks run in other processes; that adds a
        test that kills a worker (SIGKILL) in the middle of a ``map``.
    """

    tasks_in_separate_processes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Defined only where it applies (None is not collected), so no skips are reported.
        cls.test_killed_worker_costs_a_retry_not_the_job = (  # type: ignore[attr-defined]
            _test_killed_worker_costs_a_retry_not_the_job
            if cls.tasks_in_separate_processes
            else None
        )

    def test_workers_is_positive(self, engine: Engine) -> None:
        assert isinstance(engine.workers, int)
        assert engine.workers >= 1

    def test_map_returns_results_in_item_order(self, engine: Engine) -> None:
        items = list(range(200))
        assert engine.map(_jittered_square, items) == [item * item for item in items]

    def test_on_result_is_called_once_per_item(self, engine: Engine) -> None:
        seen: list[tuple[int, int]] = []
        results = engine.map(
            _jittered_square, list(range(60)), on_result=lambda i, r: seen.append((i, r))
        )
        assert sorted(seen) == [(i, i * i) for i in range(60)]
        assert results == [i * i for i in range(60)]

    def test_map_reduce_equals_the_tree_over_positions(self, engine: Engine) -> None:
        shards = list(range(37))  # odd, so the tree has an unpaired tail
        partials = [_float_terms(shard, 3.0) for shard in shards]
        expected = tree_combine(partials, operator.add)
        left_to_right = functools.reduce(operator.add, partials)
        assert expected.tobytes() != left_to_right.tobytes(), "the terms must depend on order"
        for _ in range(2):  # completion order differs between runs, the bits must not
            result = engine.map_reduce(_float_terms, shards, operator.add, state=3.0)
            assert result.tobytes() == expected.tobytes()

    def test_map_reduce_reports_each_partial(self, engine: Engine) -> None:
        seen: list[int] = []
        total = engine.map_reduce(
            _times_state, list(range(9)), operator.add, state=2,
            on_result=lambda i, _: seen.append(i),
        )
        assert total == 72
        assert sorted(seen) == list(range(9))

    def test_lambdas_and_closures_run(self, engine: Engine) -> None:
        offset = 7

        def add_offset(x: int) -> int:
            return x + offset

        assert engine.map(add_offset, range(5)) == [7, 8, 9, 10, 11]
        assert engine.map(lambda x: x * offset, range(5)) == [0, 7, 14, 21, 28]

    def test_broadcast_array_is_read_inside_tasks(self, engine: Engine) -> None:
        array = np.arange(4_000_000, dtype=np.float64)  # 32 MB
        handle = engine.broadcast(array)
        sums = engine.map(lambda k: float(handle.value[k::8].sum()), range(8))
        assert sums == [float(array[k::8].sum()) for k in range(8)]

    def test_broadcast_object_is_read_inside_tasks(self, engine: Engine) -> None:
        handle = engine.broadcast({"scale": 3, "shift": 1})
        scaled = engine.map(lambda x: x * handle.value["scale"] + handle.value["shift"], [1, 2])
        assert scaled == [4, 7]

    def test_task_error_names_the_item_and_keeps_the_original(self, engine: Engine) -> None:
        items = ["ok-1", "bad-shard-7", "ok-2"]
        with pytest.raises(TaskError) as info:
            engine.map(_fail_on_bad, items)
        message = str(info.value)
        assert "'bad-shard-7'" in message
        assert "ValueError" in message
        assert "cannot read bad-shard-7" in message
        assert "_fail_on_bad" in "".join(traceback.format_exception(info.value))
        assert engine.map(_jittered_square, [3]) == [9]  # still usable

    def test_start_returns_the_engine_ready_for_jobs(self, engine: Engine) -> None:
        assert engine.start() is engine
        assert engine.start() is engine  # a started engine stays as it is
        assert engine.map(abs, [-1, 2]) == [1, 2]

    def test_empty_items_give_an_empty_list(self, engine: Engine) -> None:
        calls: list[int] = []
        assert engine.map(_jittered_square, [], on_result=lambda i, _: calls.append(i)) == []
        assert calls == []


def _test_killed_worker_costs_a_retry_not_the_job(
    self: EngineContract, engine: Engine, tmp_path: Any
) -> None:
    """A worker killed in the middle of a map (SIGKILL) costs a retry, not the job."""
    items = [(str(tmp_path), i) for i in range(40)]
    assert engine.map(_die_once, items) == [i * i for i in range(40)]
    assert (tmp_path / "killed").exists(), "the task never killed its worker"


def _jittered_square(x: int) -> int:
    time.sleep(random.Random(x).random() * 0.002)
    return x * x


def _times_state(x: int, state: int) -> int:
    return x * state


def _float_terms(shard: int, scale: float) -> np.ndarray:
    """Terms of wildly different magnitudes, so float sums depend on their order."""
    time.sleep(random.Random(shard).random() * 0.003)
    signs = (-1.0) ** np.arange(shard, shard + 3)
    return scale * signs * 10.0 ** ((shard * 7 + np.arange(3)) % 23 - 11) + 0.1 * shard


def _fail_on_bad(item: str) -> str:
    if item.startswith("bad"):
        raise ValueError(f"cannot read {item}")
    return item


def _die_once(item: tuple[str, int]) -> int:
    folder, index = item
    time.sleep(random.Random(index).random() * 0.005)
    if index == _KILLED_ITEM:
        try:
            os.close(os.open(os.path.join(folder, "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass  # the retry: this time, finish
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    return index * index
