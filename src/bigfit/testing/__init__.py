"""Contract suites that every implementation of a bigfit extension point runs.

- :class:`EngineContract`: the tests every engine passes (needs pytest).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bigfit.testing.engine_contract import EngineContract

__all__ = ["EngineContract"]

_LAZY = {"EngineContract": "bigfit.testing.engine_contract"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import pytest

        # Plain asserts in the contract then report values like test-module asserts do.
        pytest.register_assert_rewrite(_LAZY[name])
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bigfit.testing' has no attribute {name!r}")
