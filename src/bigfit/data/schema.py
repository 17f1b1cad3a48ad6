"""Column roles: which columns are the target, the weight, numeric or categorical features.

Roles follow Arrow types: numbers become float32 features, strings, dictionaries and
booleans become categorical features, dates and timestamps become numeric date parts.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from bigfit.exceptions import SchemaError

logger = logging.getLogger(__name__)

DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")


def role_of(type_: pa.DataType) -> str | None:
    """Return ``"numeric"``, ``"categorical"``, ``"datetime"`` or None (unsupported) for a type."""
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "numeric"
    if (pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_boolean(type_)
            or pa.types.is_dictionary(type_) or pa.types.is_binary(type_)
            or pa.types.is_large_binary(type_) or pa.types.is_string_view(type_)):
        return "categorical"
    if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
        return "datetime"
    return None


@dataclass(frozen=True, slots=True)
class Layout:
    """How the columns of a table map onto a :class:`~bigfit.data.batch.Batch`."""

    numeric: tuple[str, ...]
    datetime: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str | None = None
    weight: str | None = None
    passthrough: tuple[str, ...] = ()

    @property
    def numeric_features(self) -> list[str]:
        """Names of the columns of ``Batch.X``."""
        parts = [f"{name}.{part}" for name in self.datetime for part in DATETIME_PARTS]
        return [*self.numeric, *parts]

    @property
    def categorical_features(self) -> list[str]:
        """Names of the columns of ``Batch.hashes``."""
        return list(self.categorical)

    @property
    def columns(self) -> list[str]:
        """Every column a reader must load, without duplicates."""
        names = [*self.numeric, *self.datetime, *self.categorical, self.target, self.weight,
                 *self.passthrough]
        return list(dict.fromkeys(name for name in names if name is not None))


def infer_layout(
    schema: pa.Schema,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    weight: str | None = None,
    categorical: Sequence[str] = (),
    where: str = "the dataset",
) -> Layout:
    """Assign a role to each column of ``schema``.

    Parameters
    ----------
    schema : pyarrow.Schema
    target, weight : str, optional
        Names of the target and sample-weight columns.
    features : sequence of str, optional
        Feature columns; by default every column but the target and weight whose type
        is supported (other columns are skipped with a log message).
    categorical : sequence of str
        Numeric columns to treat as categorical (integer ids, codes).
    where : str
        How to name the data in error messages.
    """
    names = schema.names
    for role, name in (("target", target), ("weight", weight)):
        if name is not None:
            _require(name, names, role, where)
    for name in categorical:
        _require(name, names, "categorical", where)
    if weight is not None and role_of(schema.field(weight).type) != "numeric":
        raise SchemaError(f"The weight column {weight!r} must be numeric; "
                          f"it is {schema.field(weight).type} in {where}.")
    explicit = features is not None
    if features is None:
        features = [n for n in names if n not in (target, weight)]
    numeric, datetime, categorical_cols = [], [], []
    forced = set(categorical)
    for name in features:
        _require(name, names, "feature", where)
        if name in (target, weight):
            raise SchemaError(f"Column {name!r} cannot be both a feature and the {_role_name(name, target)}.")
        role = "categorical" if name in forced else role_of(schema.field(name).type)
        if role is None:
            if explicit:
                raise SchemaError(f"Column {name!r} has type {schema.field(name).type}, which bigfit "
                                  "cannot use as a feature; drop it from features=.")
            logger.info("Skipping column %r of unsupported type %s", name, schema.field(name).type)
            continue
        {"numeric": numeric, "datetime": datetime, "categorical": categorical_cols}[role].append(name)
    if not (numeric or datetime or categorical_cols):
        raise SchemaError(f"{where} has no usable feature column; columns are {names}.")
    return Layout(tuple(numeric), tuple(datetime), tuple(categorical_cols), target, weight)


def _role_name(name: str, target: str | None) -> str:
    return "target" if name == target else "weight"


def _require(name: str, names: Sequence[str], role: str, where: str) -> None:
    if name in names:
        return
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise SchemaError(f"The {role} column {name!r} is not in {where}; columns are {list(names)}.{hint}")


def check_same_roles(first: pa.Schema, first_name: str, other: pa.Schema, other_name: str) -> None:
    """Raise :class:`SchemaError` when a column's role differs between two files."""
    for field in other:
        index = first.get_field_index(field.name)
        if index < 0:
            continue
        expected = first.field(index).type
        if role_of(expected) != role_of(field.type):
            raise SchemaError(
                f"Column {field.name!r} is {expected} in {first_name} but {field.type} in "
                f"{other_name}; make the files agree or pass schema= to read it as one type."
            )
    missing = [name for name in first.names if name not in other.names]
    if missing:
        raise SchemaError(f"{other_name} lacks column(s) {missing} that {first_name} has.")
