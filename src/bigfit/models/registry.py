"""The allow-list of estimator classes that a model file may name.

A model file stores an estimator's *name*, never code.  :func:`load` looks the name up
here and rebuilds the estimator through the class's own hook, so only classes
registered with :func:`register_estimator` can come out of a file.

An estimator opts in with two hooks::

    @register_estimator("SGDClassifier")
    class SGDClassifier(...):
        def _get_model_state(self) -> tuple[dict, dict, dict]:
            ...  # (params, state, metrics): JSON values and numeric numpy arrays

        @classmethod
        def _from_model_state(cls, params: dict, state: dict) -> SGDClassifier:
            ...
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bigfit._version import __version__
from bigfit.exceptions import InvalidParameterError, MissingDependencyError, UnknownEstimatorError
from bigfit.io.model_file import load_model, save_model

__all__ = [
    "UnknownEstimatorError",
    "estimator_class",
    "load",
    "register_estimator",
    "registered_estimators",
    "save",
]


E = TypeVar("E", bound=type)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_HOOKS = ("_get_model_state", "_from_model_state")
_CLASSES: dict[str, type] = {}
_NAMES: dict[type, str] = {}
# bigfit's own estimators: name -> (module that registers it, pip extra it needs or None),
# so that a fresh process can load a file before anything imported that module.  Each new
# estimator adds its line, e.g. "SGDClassifier": ("bigfit.models.linear.sgd", None): the
# module that defines the class (packages may load their classes lazily).
_BUILTIN: dict[str, tuple[str, str | None]] = {
    "KMeans": ("bigfit.models.cluster", None),
    "LinearRegression": ("bigfit.models.linear.regression", None),
    "LogisticRegression": ("bigfit.models.linear.logistic", None),
    "PCA": ("bigfit.models.decomposition", None),
    "SGDClassifier": ("bigfit.models.linear.sgd", None),
    "SGDRegressor": ("bigfit.models.linear.regression", None),
}


def register_estimator(name: str) -> Callable[[E], E]:
    """Class decorator: allow model files to name this class as ``name``.

    Parameters
    ----------
    name : str
        The name stored in model files; by convention the class name.  Changing it
        later breaks loading older files.

    Raises
    ------
    InvalidParameterError
        ``name`` is malformed or taken by another class, or the class lacks the
        ``_get_model_state`` / ``_from_model_state`` hooks.

    Examples
    --------
    >>> @register_estimator("DocExample")
    ... class DocExample:
    ...     def _get_model_state(self):
    ...         return {}, {}, {}
    ...     @classmethod
    ...     def _from_model_state(cls, params, state):
    ...         return cls()
    >>> estimator_class("DocExample") is DocExample
    True
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            "An estimator name must be an identifier such as 'SGDClassifier'. "
            f"Got {name!r} instead."
        )

    def register(cls: E) -> E:
        missing = [hook for hook in _HOOKS if not callable(getattr(cls, hook, None))]
        if missing:
            raise InvalidParameterError(
                f"{cls.__qualname__} cannot be registered as {name!r}: it lacks {missing}."
            )
        known = _CLASSES.get(name)
        if known is not None and _qualified(known) != _qualified(cls):
            raise InvalidParameterError(
                f"The estimator name {name!r} is already registered for {_qualified(known)}; "
                f"choose another name for {_qualified(cls)}."
            )
        if _NAMES.get(cls, name) != name:
            raise InvalidParameterError(
                f"{_qualified(cls)} is already registered as {_NAMES[cls]!r}."
            )
        # The same class again (its module reloaded) replaces the old entry.
        _CLASSES[name] = cls
        _NAMES[cls] = name
        return cls

    return register


def estimator_class(name: str) -> type:
    """Return the estimator class registered as ``name``.

    Raises
    ------
    UnknownEstimatorError
        No class is registered under ``name``; the message lists the known names.
    MissingDependencyError
        The estimator needs an optional dependency that is not installed.
    """
    if name not in _CLASSES and name in _BUILTIN:
        module, extra = _BUILTIN[name]
        try:
            importlib.import_module(module)  # registers the class
        except ImportError as error:
            if extra is None:
                raise
            raise MissingDependencyError(
                f"The {name!r} estimator needs optional dependencies that are not installed "
                f"({error}). Install them with: pip install 'bigfit[{extra}]'"
            ) from error
    if name not in _CLASSES:
        known = ", ".join(repr(n) for n in registered_estimators()) or "none"
        raise UnknownEstimatorError(
            f"Unknown estimator {name!r}. Known estimators: {known}. Only registered bigfit "
            "estimators can be loaded from a model file."
        )
    return _CLASSES[name]


def registered_estimators() -> list[str]:
    """Return the sorted names of every estimator a model file may name."""
    return sorted(set(_CLASSES) | set(_BUILTIN))


def save(estimator: Any, path_or_url: str | os.PathLike[str], *,
         storage_options: Mapping[str, Any] | None = None) -> None:
    """Save a fitted estimator to a model file (see :func:`bigfit.io.model_file.save_model`).

    Raises
    ------
    UnknownEstimatorError
        The estimator's class is not registered (a subclass of a registered class is not
        registered either: loading would give back the parent class).
    """
    name = _NAMES.get(type(estimator))
    if name is None:
        raise UnknownEstimatorError(
            f"{_qualified(type(estimator))} is not a registered estimator, so it cannot be "
            "saved to a model file; register it with @register_estimator(name)."
        )
    params, state, metrics = estimator._get_model_state()
    save_model(path_or_url, estimator=name, params=params, state=state, metrics=metrics,
               storage_options=storage_options)


def load(path_or_url: str | os.PathLike[str], *,
         storage_options: Mapping[str, Any] | None = None) -> Any:
    """Load an estimator from a model file written by :func:`save`.

    Raises
    ------
    UnknownEstimatorError
        The file names an estimator this bigfit does not know.
    DataNotFoundError, FormatVersionError, ModelFileError
        See :func:`bigfit.io.model_file.load_model`.
    """
    model = load_model(path_or_url, storage_options=storage_options)
    try:
        cls = estimator_class(model.estimator)
    except UnknownEstimatorError as error:
        raise UnknownEstimatorError(
            f"The model file {os.fspath(path_or_url)!r} holds an estimator this bigfit "
            f"({__version__}) does not know; it was written by bigfit "
            f"{model.metadata.get('bigfit_version')}. {error} If a newer bigfit wrote it, "
            "upgrade: pip install --upgrade bigfit"
        ) from None
    return cls._from_model_state(model.params, model.state)  # type: ignore[attr-defined]


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
