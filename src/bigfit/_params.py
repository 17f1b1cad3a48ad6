"""Declarative checks of hyperparameters, with one message style for every estimator.

A class lists its constraints once (``{"n_buckets": [Interval(int, 1, None)], ...}``)
and calls :func:`validate_params` at the start of ``fit``; a value that meets none of a
parameter's constraints raises :class:`~bigfit.exceptions.InvalidParameterError` with
a message like "The 'n_buckets' parameter of FeatureTransformer must be an int in the
range [1, inf). Got 0 instead."
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bigfit.exceptions import InvalidParameterError


@dataclass(frozen=True)
class Interval:
    """A real or integral number between ``low`` and ``high`` (None = unbounded)."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        wanted = numbers.Integral if self.kind is int else numbers.Real
        if not isinstance(value, wanted) or (isinstance(value, float) and math.isnan(value)):
            return False
        # An unbounded side excludes infinity: "(-inf, inf)" holds finite numbers only.
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        low_ok = value > low or (value == low and self._closed_left)
        high_ok = value < high or (value == high and self._closed_right)
        return bool(low_ok and high_ok)

    @property
    def _closed_left(self) -> bool:
        return self.low is not None and self.closed in ("both", "left")

    @property
    def _closed_right(self) -> bool:
        return self.high is not None and self.closed in ("both", "right")

    def __str__(self) -> str:
        left = "[" if self._closed_left else "("
        right = "]" if self._closed_right else ")"
        low = "-inf" if self.low is None else repr(self.low)
        high = "inf" if self.high is None else repr(self.high)
        article = "an int" if self.kind is int else "a float"
        return f"{article} in the range {left}{low}, {high}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: frozenset[str]

    def accepts(self, value: object) -> bool:
        return isinstance(value, str) and value in self.values

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(v) for v in sorted(self.values)) + "}"


@dataclass(frozen=True)
class InstanceOf:
    """An instance of a type (``bool`` for flags)."""

    kind: type

    def accepts(self, value: object) -> bool:
        return isinstance(value, self.kind)

    def __str__(self) -> str:
        return f"an instance of '{self.kind.__name__}'"


Constraint = Interval | Options | InstanceOf | None


def validate_params(owner: str, params: Mapping[str, Any],
                    constraints: Mapping[str, Sequence[Constraint]]) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter that meets no constraint.

    ``None`` in a parameter's constraints allows the value None; constraints of names that
    are not in ``params`` are ignored, so one table can serve several classes.
    """
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if any(value is None if c is None else c.accepts(value) for c in allowed):
            continue
        wanted = " or ".join("None" if c is None else str(c) for c in allowed)
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {wanted}. Got {value!r} instead."
        )
