"""The two Spark jobs behind ``SparkEngine.map``, and what their outcomes become in the driver.

- :func:`run_in_groups`: items (shards on shared storage, trials, ...) split into one
  coarse task per executor slot, since a Spark task costs tens of milliseconds;
- :func:`run_over_frame`: items that read partitions of a Spark DataFrame, one task per
  partition of that DataFrame, which streams the partition to the task as Arrow batches.
"""

from __future__ import annotations

import functools
import pickle
import re
from collections.abc import Callable, Sequence
from typing import Any

from bigfit.data.formats.spark_frame import SparkFrameFormat, frame_pieces
from bigfit.engine._worker import RemoteError
from bigfit.engine.base import describe_item, error_type_name, task_error
from bigfit.engine.spark import _tasks
from bigfit.exceptions import EngineError

Outcomes = dict[int, tuple[bool, bytes]]

_CRASH = "Python worker exited unexpectedly"
_FAILED_TIMES = re.compile(r"failed (\d+) times")


def run_in_groups(context: Any, fn_bytes: bytes, item_bytes: list[bytes], tasks: int) -> Outcomes:
    """Run every item in ``tasks`` coarse Spark tasks of contiguous items each."""
    count = min(tasks, len(item_bytes))
    bounds = [len(item_bytes) * k // count for k in range(count + 1)]
    groups = [[(i, item_bytes[i]) for i in range(bounds[k], bounds[k + 1])] for k in range(count)]
    rdd = context.parallelize(groups, count)
    rows = _collect(context, lambda: rdd.mapPartitions(
        functools.partial(_tasks.run_groups, fn_bytes)).collect())
    return {index: (ok, payload) for index, ok, payload in rows}


def frame_of(items: Sequence[Any]) -> tuple[SparkFrameFormat, list[int]] | None:
    """Return the DataFrame the items read and the partition of each item, or None.

    Raises
    ------
    EngineError
        Items that mix DataFrames, read several partitions each, or share one.
    """
    per_item = [frame_pieces(item) for item in items]
    if not any(per_item):
        return None
    keys = {fmt.key for pieces in per_item for fmt, _ in pieces}
    if len(keys) > 1:
        raise EngineError("One map can read the partitions of one Spark DataFrame only; "
                          f"these items read {len(keys)} DataFrames.")
    partitions = []
    for index, pieces in enumerate(per_item):
        if not pieces:
            raise EngineError(f"Item {index} ({describe_item(items[index])}) reads no Spark DataFrame "
                              "partition, but other items of the map do; map them separately.")
        if len(pieces) != 1:
            raise EngineError(
                f"Item {index} ({describe_item(items[index])}) reads {len(pieces)} partitions of a Spark "
                "DataFrame, but a task over a DataFrame sees only its own partition. Algorithms that "
                "read several shards per task (such as the SGD solvers' parameter mixing) need the "
                "data in files: write the DataFrame to Parquet (df.write.parquet(path)) and train on "
                "Dataset(path), or use solver='lbfgs'.")
        partitions.append(pieces[0][1].units[0])
    if len(set(partitions)) != len(partitions):
        raise EngineError("Two items of one map read the same Spark DataFrame partition; "
                          "a partition is streamed to one task only.")
    fmt = per_item[0][0][0]
    if fmt.frame is None:
        raise EngineError("The Spark DataFrame of these shards is not in this process; run the map "
                          "in the driver that opened the Dataset.")
    return fmt, partitions


def run_over_frame(context: Any, fmt: SparkFrameFormat, partitions: list[int], fn_bytes: bytes,
                   item_bytes: list[bytes]) -> Outcomes:
    """Run each item in the Spark task of its DataFrame partition."""
    by_partition = {p: (index, item_bytes[index]) for index, p in enumerate(partitions)}
    task = functools.partial(_tasks.run_partition, fn_bytes, fmt.key, by_partition)
    frame = fmt.frame.mapInArrow(task, _tasks.OUTCOME_SCHEMA)
    rows = _collect(context, frame.collect)
    outcomes = {row["index"]: (row["ok"], bytes(row["payload"])) for row in rows}
    if len(outcomes) < len(partitions):
        raise EngineError(
            f"Spark ran {len(outcomes)} of the {len(partitions)} partitions of the DataFrame: its "
            f"partitions changed since the Dataset was opened ({fmt.partitions} then), e.g. by adaptive "
            "query execution after a shuffle. Pin them first with df = df.localCheckpoint() "
            "(or df.cache()) and open the Dataset on that.")
    return outcomes


def results(items: Sequence[Any], outcomes: Outcomes,
            on_result: Callable[[int, Any], None] | None) -> list[Any]:
    """Return the results in item order; raise the first failed item's error, naming it."""
    failed = sorted(index for index, (ok, _) in outcomes.items() if not ok)
    if failed:
        index = failed[0]
        error: RemoteError = pickle.loads(outcomes[index][1])
        cause = error.cause()
        new = task_error(index, items[index], error.error_type, error.message, cause)
        new.__cause__ = cause
        raise new
    values = []
    for index, item in enumerate(items):
        try:
            value = pickle.loads(outcomes[index][1])
        except Exception as exc:  # e.g. the result's class cannot be imported in the driver
            raise task_error(index, item, error_type_name(exc), f"cannot load the result: {exc}",
                             exc) from exc
        if on_result is not None:
            on_result(index, value)
        values.append(value)
    return values


def _collect(context: Any, action: Callable[[], Any]) -> Any:
    """Run a Spark action; a failed job becomes an :class:`EngineError` with the reason and a hint."""
    try:
        return action()
    except Exception as exc:  # py4j and pyspark errors carry the whole Java stack as text
        raise EngineError(_job_failure(str(exc), context.master)) from exc


def _job_failure(text: str, master: str) -> str:
    if _CRASH in text:
        times = _FAILED_TIMES.search(text)
        message = ("The Spark job failed: a Python worker died (killed, or out of memory) and Spark "
                   f"gave up after {times.group(1) if times else 'its'} attempt(s) of the task.")
        if master.startswith("local[") and "," not in master:
            message += (f" Spark's {master} master never retries a task; use local[N,maxFailures] "
                        "(e.g. engine='spark[local[4,4]]') to retry it.")
        return message
    lines = [line.strip(" :\t") for line in text.splitlines()]
    reason = next((line for line in lines if "Exception" in line or "Error" in line),
                  lines[0] if lines else "")
    return f"The Spark job failed: {reason[:500]}"
