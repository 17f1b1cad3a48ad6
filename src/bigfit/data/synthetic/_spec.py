"""Validation of the parameters that decide the distribution of a synthetic dataset."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bigfit.exceptions import InvalidParameterError

KINDS = ("classification", "regression", "blobs")
FORMATS = ("parquet", "csv")
MAX_DEFAULT_LEVELS = 20_000


@dataclass(frozen=True)
class Spec:
    """Validated parameters that determine the distribution (not the file layout)."""

    kind: str
    n_numeric: int
    levels: tuple[int, ...]  # number of levels of each categorical column
    n_informative: int
    n_clusters: int
    noise: float
    label_noise: float
    missing_fraction: float
    seed: int

    @classmethod
    def validate(cls, *, kind: str, n_numeric: int, n_categorical: int | None,
                 n_levels: Sequence[int] | None, n_informative: int | None,
                 n_clusters: int, noise: float, label_noise: float,
                 missing_fraction: float, seed: int) -> Spec:
        """Check the arguments of ``make_dataset`` and fill in their defaults."""
        check_choice("kind", kind, KINDS)
        n_numeric = check_int("n_numeric", n_numeric, 1 if kind == "blobs" else 0)
        return cls(
            kind=kind,
            n_numeric=n_numeric,
            levels=_levels(kind, n_numeric, n_categorical, n_levels),
            n_informative=check_int(
                "n_informative", n_numeric if n_informative is None else n_informative,
                0, n_numeric),
            n_clusters=check_int("n_clusters", n_clusters, 1),
            noise=check_float("noise", noise, 0.0, math.inf),
            label_noise=check_float("label_noise", label_noise, 0.0, 0.5),
            missing_fraction=check_float("missing_fraction", missing_fraction, 0.0, 1.0),
            seed=check_int("seed", seed, 0),
        )


def _levels(kind: str, n_numeric: int, n_categorical: int | None,
            n_levels: Sequence[int] | None) -> tuple[int, ...]:
    if n_categorical is None:
        default = 0 if kind == "blobs" else 2
        n_categorical = default if n_levels is None else len(n_levels)
    n_categorical = check_int("n_categorical", n_categorical, 0)
    if n_numeric + n_categorical == 0:
        raise InvalidParameterError(
            "make_dataset needs at least one feature; got n_numeric=0 and n_categorical=0."
        )
    if n_levels is None:
        return tuple(min(20 * 10**k, MAX_DEFAULT_LEVELS) for k in range(n_categorical))
    levels = tuple(check_int("n_levels", n, 1, 2**31 - 1) for n in n_levels)
    if len(levels) != n_categorical:
        raise InvalidParameterError(
            f"The 'n_levels' parameter of make_dataset must give one count per "
            f"categorical column ({n_categorical}). Got {len(levels)} instead."
        )
    return levels


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise the uniform error."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        upper = "inf)" if high is None else f"{high}]"
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be an int in the range "
            f"[{low}, {upper}. Got {value!r} instead."
        )
    return int(value)


def check_float(name: str, value: Any, low: float, high: float) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` or raise the uniform error."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        upper = "inf)" if math.isinf(high) else f"{high}]"
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be a float in the range "
            f"[{low}, {upper}. Got {value!r} instead."
        )
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise the uniform error."""
    if value not in choices:
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )
    return str(value)
