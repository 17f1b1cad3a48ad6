"""Process-wide defaults and the memory budget.

Hyperparameters live in estimator constructors and run settings in small dataclasses;
this module only holds defaults that apply to a whole process, such as the memory limit
(``BIGFIT_MEMORY_LIMIT`` or :func:`config_context`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from bigfit.exceptions import InvalidParameterError

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

_DEFAULTS: dict[str, Any] = {"memory_limit": None}
_overrides: ContextVar[Mapping[str, Any]] = ContextVar("bigfit_config", default=MappingProxyType({}))


def parse_size(value: int | float | str) -> int:
    """Return a byte count from ``2GB``, ``512MiB``, ``1e9`` or a number of bytes.

    Examples
    --------
    >>> parse_size("2GB")
    2000000000
    >>> parse_size("512MiB")
    536870912
    """
    if isinstance(value, bool):
        raise InvalidParameterError(f"A memory size must be a number or a string like '2GB'. Got {value!r}.")
    if isinstance(value, int | float):
        if value <= 0:
            raise InvalidParameterError(f"A memory size must be positive. Got {value!r}.")
        return int(value)
    match = _SIZE.match(str(value))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise InvalidParameterError(
            f"Cannot read {value!r} as a memory size; write it like '2GB', '512MiB' or '1500000000'."
        )
    size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise InvalidParameterError(f"A memory size must be positive. Got {value!r}.")
    return size


def total_memory() -> int:
    """Return the physical memory of this machine in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def memory_limit(value: int | float | str | None = None) -> int:
    """Return the memory budget in bytes.

    The first of: ``value``, the innermost :func:`config_context`, the
    ``BIGFIT_MEMORY_LIMIT`` environment variable, and a quarter of physical memory.
    """
    for candidate in (value, get_config()["memory_limit"], os.environ.get("BIGFIT_MEMORY_LIMIT")):
        if candidate not in (None, ""):
            return parse_size(candidate)
    return total_memory() // 4


def get_config() -> dict[str, Any]:
    """Return the current process-wide settings."""
    return {**_DEFAULTS, **_overrides.get()}


@contextlib.contextmanager
def config_context(**settings: Any) -> Iterator[None]:
    """Temporarily change process-wide settings.

    Examples
    --------
    >>> with config_context(memory_limit="1GB"):
    ...     memory_limit()
    1000000000
    """
    unknown = set(settings) - set(_DEFAULTS)
    if unknown:
        raise InvalidParameterError(f"Unknown setting(s) {sorted(unknown)}; known: {sorted(_DEFAULTS)}.")
    token = _overrides.set({**_overrides.get(), **settings})
    try:
        yield
    finally:
        _overrides.reset(token)
