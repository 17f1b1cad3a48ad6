"""Engine names and URL prefixes, mapped to engine classes imported on first use.

``get_engine("local[4]")`` looks the spec up here, imports the engine's module only
then, and lets the class read the rest of the spec (:meth:`Engine.from_spec`).  An
engine that needs an optional dependency names its pip extra, so a missing install
ends in ``pip install 'bigfit[ray]'`` rather than a bare ``ImportError``.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bigfit.engine.base import Engine
from bigfit.exceptions import (
    EngineError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownEngineError,
)

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_URL_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*://$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class _Entry:
    prefix: str
    target: str
    extra: str | None
    forms: tuple[str, ...]

    def matches(self, spec: str) -> bool:
        if self.prefix.endswith("://"):
            return spec.startswith(self.prefix)
        return spec == self.prefix or spec.startswith(self.prefix + "[")


_ENGINES: dict[str, _Entry] = {}


def register_engine(
    prefix: str, target: str, extra: str | None = None, *, forms: Sequence[str] = ()
) -> None:
    """Map an engine name or URL prefix to the engine class that serves it.

    Parameters
    ----------
    prefix : str
        A name (``"ray"``, matching ``"ray"`` and ``"ray[...]"``) or a URL prefix
        ending in ``://`` (``"ray://"``, matching ``"ray://host:10001"``).
    target : str
        ``"module:Class"``; the module is imported the first time the engine is used.
    extra : str, optional
        The pip extra that installs the engine's dependencies; when importing
        ``module`` fails, the error says ``pip install 'bigfit[<extra>]'``.
    forms : sequence of str, optional
        Example specs shown in error messages and by :func:`available_engines`.

    Examples
    --------
    How bigfit registers its own local engine:

    >>> register_engine(
    ...     "local", "bigfit.engine.local:LocalEngine", forms=("local", "local[N]", "local[*]")
    ... )
    """
    if not (_NAME.match(prefix) or _URL_PREFIX.match(prefix)):
        raise InvalidParameterError(
            "An engine prefix must be a lower-case name like 'ray' or a URL prefix like "
            f"'ray://'. Got {prefix!r}."
        )
    if not _TARGET.match(target):
        raise InvalidParameterError(
            f"An engine target must look like 'package.module:Class'. Got {target!r}."
        )
    if not forms:
        forms = (prefix + "host:port",) if prefix.endswith("://") else (prefix,)
    _ENGINES[prefix] = _Entry(prefix, target, extra, tuple(forms))


def get_engine(spec: str | Engine | None = None) -> Engine:
    """Return the engine that ``spec`` names.

    Parameters
    ----------
    spec : str, Engine or None
        ``None`` or ``"local"``: run in this process.  ``"local[N]"``: N worker
        processes; ``"local[*]"``: one per core.  Other registered names and URLs
        (see :func:`available_engines`).  An :class:`Engine` is returned as is.

    Raises
    ------
    UnknownEngineError
        No registered engine matches ``spec``.
    MissingDependencyError
        The engine's optional dependencies are not installed.
    InvalidParameterError
        The spec has a bad argument, such as ``"local[0]"``.

    Examples
    --------
    >>> get_engine()
    LocalEngine()
    >>> get_engine("local[2]")
    LocalEngine(workers=2)
    """
    if isinstance(spec, Engine):
        return spec
    if spec is None:
        spec = "local"
    if not isinstance(spec, str):
        raise InvalidParameterError(
            f"An engine must be a name such as 'local[4]', a URL or an Engine. Got {spec!r}."
        )
    spec = spec.strip()
    matches = [entry for entry in _ENGINES.values() if entry.matches(spec)]
    if not matches:
        known = ", ".join(repr(form) for entry in _ENGINES.values() for form in entry.forms)
        raise UnknownEngineError(f"Unknown engine {spec!r}. Known engines: {known}.")
    entry = max(matches, key=lambda entry: len(entry.prefix))
    return _load(entry).from_spec(spec)


@contextlib.contextmanager
def running_engine(spec: str | Engine | None = None) -> Iterator[Engine]:
    """Yield the engine ``spec`` names; close it afterwards only when it was started here.

    An :class:`Engine` instance belongs to the caller and is left open; a spec such as
    ``"local[2]"`` or ``"ray"`` starts an engine for the block and closes it at the end.

    Examples
    --------
    >>> with running_engine("local") as engine:
    ...     engine.map(abs, [-1, 2])
    [1, 2]
    """
    engine = get_engine(spec)
    try:
        yield engine
    finally:
        if engine is not spec:
            engine.close()


def available_engines() -> list[tuple[str, bool, str]]:
    """List every registered engine as ``(name, available, hint)``.

    ``hint`` shows the specs the engine accepts when it is available, and the pip
    command that installs it when it is not.  Imports each engine's module.

    Examples
    --------
    >>> available_engines()[0]
    ('local', True, 'local, local[N], local[*]')
    """
    rows = []
    for entry in _ENGINES.values():
        try:
            _load(entry)
        except MissingDependencyError:
            rows.append((entry.prefix, False, _install_hint(entry.extra)))
        else:
            rows.append((entry.prefix, True, ", ".join(entry.forms)))
    return rows


def _load(entry: _Entry) -> type[Engine]:
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if entry.extra is None:
            raise
        raise MissingDependencyError(
            f"The {entry.prefix!r} engine needs optional dependencies that are not "
            f"installed ({exc}). Install them with: {_install_hint(entry.extra)}"
        ) from exc
    engine_class = getattr(module, class_name, None)
    if not (isinstance(engine_class, type) and issubclass(engine_class, Engine)):
        raise EngineError(
            f"{entry.target!r}, registered for {entry.prefix!r}, is not an Engine class."
        )
    return engine_class


def _install_hint(extra: str | None) -> str:
    return f"pip install 'bigfit[{extra}]'"


register_engine(
    "local", "bigfit.engine.local:LocalEngine", forms=("local", "local[N]", "local[*]")
)
register_engine(
    "spark", "bigfit.engine.spark:SparkEngine", extra="spark", forms=("spark", "spark[<master URL>]")
)
register_engine("spark://", "bigfit.engine.spark:SparkEngine", extra="spark", forms=("spark://host:7077",))
register_engine(
    "ray", "bigfit.engine.ray:RayEngine", extra="ray", forms=("ray", "ray[N]", "ray[auto]")
)
register_engine("ray://", "bigfit.engine.ray:RayEngine", extra="ray", forms=("ray://host:10001",))
