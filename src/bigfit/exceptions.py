"""The bigfit error tree.

Every error bigfit raises derives from :class:`BigfitError` and from the builtin that
best matches it, so ``except FileNotFoundError`` or ``except ValueError`` keep working.
Messages name the file, column or row at fault and say what to do next.
"""

from __future__ import annotations


class BigfitError(Exception):
    """Base class of every error raised by bigfit."""


class InvalidParameterError(BigfitError, ValueError):
    """A hyperparameter or setting has a value outside its allowed range."""


class DataNotFoundError(BigfitError, FileNotFoundError):
    """A path, glob or URL matched no data."""


class UnknownFormatError(BigfitError, ValueError):
    """The data format could not be inferred or is not supported."""


class DataError(BigfitError, ValueError):
    """The data cannot be used as given (bad values, bad shape, bad encoding)."""


class SchemaError(DataError):
    """A column is missing, has the wrong type, or differs between files."""


class EmptyDatasetError(DataError):
    """The dataset (or the selected part of it) holds no rows."""


class ParseError(DataError):
    """A text file (CSV, JSON lines) has a row that cannot be parsed."""


class CorruptFileError(DataError):
    """A file is truncated or is not what its extension says."""


class EngineError(BigfitError, RuntimeError):
    """An engine failed to run work."""


class TaskError(EngineError):
    """A task raised an exception; the message names the item (shard) it ran on."""


class UnknownEngineError(BigfitError, ValueError):
    """An engine name or URL is not recognised."""


class MissingDependencyError(BigfitError, ImportError):
    """An optional dependency is needed; the message gives the pip command."""


class NotFittedError(BigfitError, ValueError, AttributeError):
    """An estimator or transformer was used before ``fit``."""


class ModelFileError(BigfitError, ValueError):
    """A model file or checkpoint is not a bigfit file, or is corrupt or tampered with."""


class FormatVersionError(ModelFileError):
    """A model file or checkpoint has a format version this bigfit cannot read."""


class UnknownEstimatorError(BigfitError, ValueError):
    """An estimator name is not registered, or an estimator class is not."""


class CheckpointMismatchError(BigfitError, ValueError):
    """A checkpoint belongs to another run (other data, parameters or bigfit version)."""
