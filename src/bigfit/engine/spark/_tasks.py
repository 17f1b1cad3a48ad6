"""What runs inside Spark's Python workers: bigfit tasks, their results and errors as bytes.

Every outcome travels as ``(ok, pickle(result))`` or ``(False, pickle(RemoteError))``:
a task's exception never fails the Spark task (Spark would retry it for nothing), and
only a worker that dies does.  Spark reuses its Python workers between tasks
(``spark.python.worker.reuse``, on by default), so module state such as loaded
broadcasts persists in a worker from one job to the next.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import cloudpickle

from bigfit.engine._worker import RemoteError
from bigfit.engine.base import error_type_name
from bigfit.exceptions import EngineError

# The schema of the outcomes of a map over a DataFrame, as Spark's DDL and column names.
OUTCOME_SCHEMA = "index long, ok boolean, payload binary"
OUTCOME_COLUMNS = ("index", "ok", "payload")


def run_one(fn: Any, item_bytes: bytes) -> tuple[bool, bytes]:
    """Run ``fn`` on a pickled item; return whether it succeeded and the pickled result or error."""
    try:
        return True, pickle.dumps(fn(pickle.loads(item_bytes)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # reported to the driver, which raises it naming the item
        return False, pickle.dumps(RemoteError.capture(exc), protocol=pickle.HIGHEST_PROTOCOL)


def load_function(fn_bytes: bytes) -> Any:
    """Unpickle the task function, or return one that raises why it could not be."""
    try:
        return cloudpickle.loads(fn_bytes)
    except Exception as exc:  # e.g. bigfit or a module of the function missing on executors
        cause = exc
        error = EngineError(
            f"The task function could not be loaded in a Spark worker ({error_type_name(exc)}: {exc}); "
            "install bigfit and the modules the function uses on every executor.")

        def fail(_item: Any) -> Any:
            raise error from cause

        return fail


def run_groups(fn_bytes: bytes, groups: Iterable[list[tuple[int, bytes]]],
               ) -> Iterator[tuple[int, bool, bytes]]:
    """Run each ``(index, item)`` of a Spark partition's groups; stop at the first error.

    The body of the coarse tasks of :meth:`SparkEngine.map`: one per executor slot.
    """
    fn = load_function(fn_bytes)
    for group in groups:
        for index, item_bytes in group:
            ok, payload = run_one(fn, item_bytes)
            yield index, ok, payload
            if not ok:
                return


def run_partition(fn_bytes: bytes, key: str, items: Mapping[int, tuple[int, bytes]],
                  batches: Iterator[Any]) -> Iterator[Any]:
    """Run the item that reads this Spark DataFrame partition, streaming its Arrow batches.

    The body of ``DataFrame.mapInArrow`` in a map over a DataFrame's shards; yields one
    record batch ``(index, ok, payload)``, or none for a partition no item reads.
    """
    import pyarrow as pa
    from pyspark import TaskContext

    from bigfit.data.formats.spark_frame import partition_stream

    partition = TaskContext.get().partitionId()
    entry = items.get(partition)
    if entry is None:
        return
    index, item_bytes = entry
    with partition_stream(key, partition, batches):
        ok, payload = run_one(load_function(fn_bytes), item_bytes)
    yield pa.RecordBatch.from_arrays(
        [pa.array([index], pa.int64()), pa.array([ok]), pa.array([payload], pa.binary())],
        names=list(OUTCOME_COLUMNS))
