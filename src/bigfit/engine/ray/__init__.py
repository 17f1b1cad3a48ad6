"""The Ray engine: ``engine="ray"``, ``"ray[N]"`` or ``"ray://host:10001"``.

It needs ``pip install 'bigfit[ray]'``.  Importing this package imports ray;
``import bigfit`` never does.
"""

from __future__ import annotations

from bigfit.engine.ray.engine import RayEngine

__all__ = ["RayEngine"]
