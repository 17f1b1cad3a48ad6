"""Profile a dataset in one map-reduce pass: what ``bigfit inspect`` shows.

Every statistic is a mergeable sketch, so shards are profiled where they live and only
small partial results travel: moments of numeric and datetime columns, HyperLogLog
distinct counts of categorical ones, and bounded counts of the target's values.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigfit.data._hashing import hash_array
from bigfit.data.convert import numeric_values
from bigfit.data.dataset import Dataset
from bigfit.data.schema import role_of
from bigfit.data.shards import Shard
from bigfit.data.stats import DistinctSketch, Moments, TopValues

CLASS_LIMIT = 64


@dataclass(frozen=True)
class _Columns:
    """The columns to profile, by role."""

    numeric: tuple[str, ...]
    datetime: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str | None


@dataclass
class ShardProfile:
    """Mergeable partial statistics of some shards."""

    rows: int
    nbytes: int
    numeric: Moments
    datetime: Moments
    categorical_nulls: np.ndarray
    distinct: list[DistinctSketch]
    target: TopValues | None
    shard_rows: dict[int, int] = field(default_factory=dict)

    def merge(self, other: ShardProfile) -> ShardProfile:
        """Fold ``other`` in and return self."""
        self.rows += other.rows
        self.nbytes += other.nbytes
        self.numeric.merge(other.numeric)
        self.datetime.merge(other.datetime)
        self.categorical_nulls = self.categorical_nulls + other.categorical_nulls
        for mine, theirs in zip(self.distinct, other.distinct, strict=True):
            mine.merge(theirs)
        if self.target is not None and other.target is not None:
            self.target.merge(other.target)
        self.shard_rows.update(other.shard_rows)
        return self


def profile_shard(shard: Shard, columns: _Columns) -> ShardProfile:
    """Profile one shard (runs on a worker)."""
    numeric = Moments(len(columns.numeric))
    datetime = Moments(len(columns.datetime))
    nulls = np.zeros(len(columns.categorical), dtype=np.int64)
    distinct = [DistinctSketch(precision=12) for _ in columns.categorical]
    target = TopValues(capacity=4 * CLASS_LIMIT) if columns.target else None
    rows = 0
    for piece in shard.pieces:
        for batch in shard.reader.record_batches(piece):
            rows += batch.num_rows
            if columns.numeric:
                numeric.update(np.column_stack([numeric_values(batch.column(n)).astype(np.float64, copy=False)
                                                for n in columns.numeric]))
            if columns.datetime:
                datetime.update(np.column_stack([_seconds(batch.column(n)) for n in columns.datetime]))
            for j, name in enumerate(columns.categorical):
                values = batch.column(name)
                nulls[j] += values.null_count
                distinct[j].update(hash_array(values))
            if target is not None:
                target.update_arrow(batch.column(columns.target))
    return ShardProfile(rows, shard.nbytes, numeric, datetime, nulls, distinct, target,
                        {shard.index: rows})


def _seconds(values: pa.Array) -> np.ndarray:
    if pa.types.is_date(values.type):
        values = pc.cast(values, pa.timestamp("s"))
    as_int = pc.cast(pc.cast(values, pa.timestamp("s")), pa.int64())
    return numeric_values(as_int).astype(np.float64, copy=False)


def _combine(a: ShardProfile, b: ShardProfile) -> ShardProfile:
    return a.merge(b)


@dataclass(frozen=True)
class ColumnSummary:
    """What ``inspect`` reports for one column."""

    name: str
    type: str
    role: str
    missing: int | None = None
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    distinct: int | None = None


@dataclass(frozen=True)
class Profile:
    """A dataset's summary: size, columns, target balance and shard balance."""

    rows: int
    files: int
    nbytes: int
    format: str
    columns: list[ColumnSummary]
    target: str | None
    class_balance: list[tuple[str, int]] | None
    shard_rows: list[int]
    seconds: float
    engine: str

    @property
    def shard_imbalance(self) -> float:
        """Largest shard over smallest (1.0 is perfect)."""
        return max(self.shard_rows) / max(min(self.shard_rows), 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "rows": self.rows, "files": self.files, "bytes": self.nbytes, "format": self.format,
            "target": self.target, "engine": self.engine, "seconds": round(self.seconds, 3),
            "columns": [vars(c) for c in self.columns],
            "class_balance": dict(self.class_balance) if self.class_balance is not None else None,
            "shards": {"count": len(self.shard_rows), "rows": self.shard_rows,
                       "imbalance": round(self.shard_imbalance, 3)},
        }


def profile(dataset: Dataset, *, engine: Any = None, shards: int | None = None,
            on_shard: Callable[[Shard, ShardProfile], None] | None = None) -> Profile:
    """Profile ``dataset`` in one pass on ``engine``.

    Parameters
    ----------
    dataset : Dataset
    engine : str or Engine, optional
        Where to run (default: in-process).
    shards : int, optional
        Number of shards; by default four per worker, and at least the dataset's default.
    on_shard : callable, optional
        Called in the driver with each shard and its partial profile as it completes
        (progress reporting).

    Examples
    --------
    >>> import numpy as np
    >>> summary = profile(Dataset({"x": np.arange(4.0), "y": ["a", "b", "b", "b"]}, target="y"))
    >>> summary.rows, summary.class_balance
    (4, [('b', 3), ('a', 1)])
    """
    from bigfit.engine import running_engine  # the engine layer sits above data: import late

    with running_engine(engine) as runner:
        count = shards or max(4 * runner.workers, len(dataset.shards()))
        parts = dataset.shards(count)
        columns = _columns_of(dataset)
        start = time.perf_counter()
        on_result = (lambda i, partial: on_shard(parts[i], partial)) if on_shard else None
        total = runner.map_reduce(profile_shard, parts, _combine, columns, on_result=on_result)
        return _summarise(dataset, columns, total, time.perf_counter() - start, runner.spec)


def _columns_of(dataset: Dataset) -> _Columns:
    roles = {name: role_of(dataset.schema.field(name).type) for name in dataset.columns}
    forced = set(dataset.categorical_features)
    pick = [name for name in dataset.columns if roles[name] is not None]
    return _Columns(
        numeric=tuple(n for n in pick if roles[n] == "numeric" and n not in forced),
        datetime=tuple(n for n in pick if roles[n] == "datetime"),
        categorical=tuple(n for n in pick if roles[n] == "categorical" or n in forced),
        target=dataset.target,
    )


def _summarise(dataset: Dataset, columns: _Columns, total: ShardProfile, seconds: float,
               engine: str) -> Profile:
    summaries: dict[str, ColumnSummary] = {}
    role_name = {dataset.target: "target", dataset.weight: "weight"}
    for j, name in enumerate(columns.numeric):
        m = total.numeric
        summaries[name] = ColumnSummary(name, _type_name(dataset.schema.field(name).type),
                                        role_name.get(name, "numeric"), int(m.nulls[j]),
                                        _number(m.min[j]), _number(m.max[j]),
                                        _number(m.mean[j]), _number(m.std[j]))
    for j, name in enumerate(columns.datetime):
        m = total.datetime
        summaries[name] = ColumnSummary(name, _type_name(dataset.schema.field(name).type),
                                        role_name.get(name, "datetime"), int(m.nulls[j]),
                                        _date(m.min[j]), _date(m.max[j]))
    for j, name in enumerate(columns.categorical):
        summaries[name] = ColumnSummary(name, _type_name(dataset.schema.field(name).type),
                                        role_name.get(name, "categorical"),
                                        int(total.categorical_nulls[j]),
                                        distinct=round(total.distinct[j].estimate()))
    ordered = [summaries.get(name)
               or ColumnSummary(name, _type_name(dataset.schema.field(name).type), "ignored")
               for name in dataset.columns]
    balance = None
    if total.target is not None and not total.target.approximate and len(total.target) <= CLASS_LIMIT:
        balance = [(str(label), int(count)) for label, count in total.target.most_common()]
    shard_rows = [total.shard_rows[i] for i in sorted(total.shard_rows)]
    return Profile(total.rows, max(len(dataset.files), 1), dataset.nbytes, dataset.format, ordered,
                   dataset.target, balance, shard_rows, seconds, engine)


def _type_name(type_: pa.DataType) -> str:
    if pa.types.is_dictionary(type_):
        return f"dictionary<{type_.value_type}>"
    return str(type_)


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _date(seconds: float) -> str | None:
    if not np.isfinite(seconds):
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
