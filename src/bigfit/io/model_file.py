"""Model files: a zip of ``metadata.json`` and ``.npy`` arrays that loads without running code.

A ``.bigfit`` file is a plain zip archive::

    metadata.json        {"format": "bigfit-model", "format_version": 1, "bigfit_version",
                          "created", "estimator", "params", "state", "metrics",
                          "arrays": {name: {"sha256", "dtype", "shape"}}}
    arrays/<name>.npy    one member per array, in numpy's ``.npy`` format

``params``, ``state`` and ``metrics`` are JSON in which every numpy array is replaced by
a reference ``{"__array__": "<name>"}`` (:func:`flatten_state`).  Loading checks
everything before trusting it: the format and its version, that the members are exactly
those the manifest lists, each array's dtype (bool or numeric only), shape and sha256.
Arrays are decoded from their ``.npy`` header and raw bytes; nothing is ever unpickled,
so a model file from a stranger cannot run code.  Checkpoints
(:mod:`bigfit.io.checkpoint`) use the same container with ``"format": "bigfit-checkpoint"``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy

from bigfit._version import __version__
from bigfit.exceptions import (
    DataNotFoundError,
    FormatVersionError,
    InvalidParameterError,
    ModelFileError,
)
from bigfit.io.atomic import atomic_write
from bigfit.io.filesystems import fsspec_filesystem, is_url, split_scheme

__all__ = [
    "FormatVersionError",
    "ModelFile",
    "ModelFileError",
    "flatten_state",
    "load_model",
    "read_bigfit_file",
    "save_model",
    "unflatten_state",
    "write_bigfit_file",
]


MODEL_FORMAT = "bigfit-model"
CHECKPOINT_FORMAT = "bigfit-checkpoint"
# The format version this bigfit writes, and the only one it reads, per kind of file.
_VERSIONS = {MODEL_FORMAT: 1, CHECKPOINT_FORMAT: 1}
_NOUNS = {MODEL_FORMAT: "model file", CHECKPOINT_FORMAT: "checkpoint"}

_REF = "__array__"
_METADATA = "metadata.json"
_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_DTYPE = re.compile(r"^[<>|=]?[biufc]\d{1,2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,199}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_~-]")  # "." joins the parts of a name
_MAX_METADATA_BYTES = 256 << 20
_MAX_NPY_HEADER = 1 << 16  # numpy itself refuses headers over 10 000 bytes
_ZIP64_FROM = 1 << 30
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same content gives the same bytes
_DAMAGED = ("It was damaged or modified after it was written: do not use it; "
            "write it again or restore a copy.")


@dataclass(frozen=True)
class ModelFile:
    """A verified model file, as :func:`load_model` returns it.

    Attributes
    ----------
    metadata : dict
        ``metadata.json`` as stored (arrays appear as ``{"__array__": name}`` references).
    params, state, metrics : dict
        The estimator's hyperparameters, fitted state and metrics, arrays restored.
    """

    metadata: dict[str, Any]
    params: dict[str, Any]
    state: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def estimator(self) -> str:
        """The registered name of the estimator class."""
        return str(self.metadata["estimator"])


def save_model(path_or_url: str | os.PathLike[str], *, estimator: str, params: Mapping[str, Any],
               state: Mapping[str, Any], metrics: Mapping[str, Any] | None = None,
               storage_options: Mapping[str, Any] | None = None) -> None:
    """Write a model file atomically: the target appears whole or not at all.

    Parameters
    ----------
    path_or_url : str or path-like
        A local path (written under a temporary name, then renamed) or an fsspec URL
        such as ``s3://bucket/model.bigfit`` (written in one put: objects appear whole).
    estimator : str
        The registered name of the estimator class (:mod:`bigfit.models.registry`).
    params, state, metrics : mapping
        Hyperparameters, fitted state and metrics: JSON values (dicts with string keys,
        lists, str, int, float, bool, None) and bool or numeric numpy arrays, nested
        freely.  Tuples come back as lists.
    storage_options : mapping, optional
        Options for the fsspec filesystem of a URL (credentials, endpoint ...).

    Raises
    ------
    InvalidParameterError
        A value is neither JSON data nor a bool or numeric array (object arrays included).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.bigfit"
    >>> save_model(path, estimator="Demo", params={"alpha": 0.1},
    ...            state={"coef": np.array([1.5, -2.0])})
    >>> load_model(path).state["coef"]
    array([ 1.5, -2. ])
    """
    if not isinstance(estimator, str) or not estimator:
        raise InvalidParameterError(
            f"The 'estimator' parameter of save_model must be a registered estimator name. "
            f"Got {estimator!r} instead."
        )
    tree = {"params": dict(params), "state": dict(state), "metrics": dict(metrics or {})}
    write_bigfit_file(path_or_url, format=MODEL_FORMAT, header={"estimator": estimator},
                      tree=tree, storage_options=storage_options)


def load_model(path_or_url: str | os.PathLike[str],
               storage_options: Mapping[str, Any] | None = None) -> ModelFile:
    """Read and verify a model file written by :func:`save_model`.

    Parameters
    ----------
    path_or_url : str or path-like
        A local path or an fsspec URL.
    storage_options : mapping, optional
        Options for the fsspec filesystem of a URL.

    Returns
    -------
    ModelFile

    Raises
    ------
    DataNotFoundError
        Nothing exists at ``path_or_url``.
    FormatVersionError
        The file was written in a newer (or unknown) format version.
    ModelFileError
        The file is not a bigfit model file, or is corrupt or tampered with.
    """
    metadata, tree = read_bigfit_file(path_or_url, format=MODEL_FORMAT,
                                      keys=("params", "state", "metrics"),
                                      storage_options=storage_options)
    if not isinstance(metadata.get("estimator"), str):
        raise ModelFileError(f"The model file {os.fspath(path_or_url)!r} names no estimator "
                             f"class in its {_METADATA}. {_DAMAGED}")
    return ModelFile(metadata, tree["params"], tree["state"], tree["metrics"])


# -- state <-> JSON + arrays ---------------------------------------------------------------


def flatten_state(state: Any, *, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Split nested state into JSON and arrays, leaving ``{"__array__": name}`` references.

    Array names follow the path to the array (``"encoder.vocabulary"``, ``"trees.3.value"``),
    so a model file is easy to inspect; clashes get a ``~1``, ``~2`` ... suffix.

    Parameters
    ----------
    state : object
        Dicts with string keys, lists, tuples (saved as lists), str, int, float, bool,
        None, numpy scalars (saved as Python numbers) and bool or numeric numpy arrays.
    prefix : str, optional
        The first part of every array name.

    Returns
    -------
    json_state : object
        ``state`` with each array replaced by its reference.
    arrays : dict of str to numpy.ndarray
        The arrays by name (not copied).

    Raises
    ------
    InvalidParameterError
        A value of another type, an array of another dtype, a non-string key, or a
        ``"__array__"`` key, named by its path.

    Examples
    --------
    >>> import numpy as np
    >>> flatten_state({"coef": np.zeros(2), "classes": ["no", "yes"]})
    ({'coef': {'__array__': 'coef'}, 'classes': ['no', 'yes']}, {'coef': array([0., 0.])})
    """
    arrays: dict[str, np.ndarray] = {}
    return _flatten(state, (prefix,) if prefix else (), arrays), arrays


def unflatten_state(json_state: Any, arrays: Mapping[str, np.ndarray], *,
                    source: str = "the state") -> Any:
    """Put arrays back in place of their ``{"__array__": name}`` references.

    Parameters
    ----------
    json_state : object
        The first result of :func:`flatten_state`.
    arrays : mapping of str to numpy.ndarray
        The second result.
    source : str, optional
        What ``json_state`` came from, for error messages.

    Raises
    ------
    ModelFileError
        A reference names an array that ``arrays`` lacks.

    Examples
    --------
    >>> import numpy as np
    >>> unflatten_state({"coef": {"__array__": "coef"}}, {"coef": np.ones(2)})
    {'coef': array([1., 1.])}
    """
    if isinstance(json_state, dict):
        if set(json_state) == {_REF}:
            name = json_state[_REF]
            if not isinstance(name, str) or name not in arrays:
                raise ModelFileError(
                    f"{source} refers to an array {name!r} that is not stored with it. {_DAMAGED}"
                )
            return arrays[name]
        return {key: unflatten_state(value, arrays, source=source)
                for key, value in json_state.items()}
    if isinstance(json_state, list):
        return [unflatten_state(value, arrays, source=source) for value in json_state]
    return json_state


def _flatten(value: Any, path: tuple[str, ...], arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _KINDS:
            raise InvalidParameterError(
                f"Cannot save {_where(path)}: its dtype {value.dtype} is not bool or numeric. "
                "bigfit files hold only bool and numeric arrays (never pickles); store text as "
                "a list of str."
            )
        name = _array_name(path, arrays)
        arrays[name] = value
        return {_REF: name}
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or key == _REF:
                raise InvalidParameterError(
                    f"Cannot save {_where(path)}: its key {key!r} is not allowed; keys must be "
                    f"str other than {_REF!r}."
                )
        return {key: _flatten(item, (*path, key), arrays) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_flatten(item, (*path, str(i)), arrays) for i, item in enumerate(value)]
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InvalidParameterError(
        f"Cannot save {_where(path)}: a {type(value).__name__} is neither JSON data (dict, "
        "list, str, int, float, bool, None) nor a numpy array. Convert it in the "
        "estimator's _get_model_state."
    )


def _where(path: tuple[str, ...]) -> str:
    return repr(".".join(path)) if path else "the state"


def _array_name(path: tuple[str, ...], taken: Mapping[str, Any]) -> str:
    base = ".".join(_UNSAFE.sub("_", part) or "_" for part in path)[:180] or "array"
    name, n = base, 1
    while name in taken:
        name, n = f"{base}~{n}", n + 1
    return name


# -- the zip container, shared by model files and checkpoints -----------------------------


def write_bigfit_file(path_or_url: str | os.PathLike[str], *, format: str,
                      header: Mapping[str, Any], tree: Mapping[str, Any],
                      storage_options: Mapping[str, Any] | None = None) -> None:
    """Write a bigfit zip atomically: ``header`` and the JSON of ``tree`` go in metadata.json.

    Each top-level key of ``tree`` becomes a key of metadata.json holding its JSON part;
    its arrays are stored as ``arrays/<key>.<path>.npy`` members (see :func:`flatten_state`).
    """
    json_tree, arrays = flatten_state(dict(tree))
    metadata = {"format": format, "format_version": _VERSIONS[format],
                "bigfit_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                **header, **json_tree}

    def write(file: IO[bytes]) -> None:
        with zipfile.ZipFile(file, "w") as archive:
            manifest = {name: _write_array(archive, name, array) for name, array in arrays.items()}
            text = json.dumps({**metadata, "arrays": manifest}, indent=1)
            info = zipfile.ZipInfo(_METADATA, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))

    _write_whole(os.fspath(path_or_url), write, storage_options)


def read_bigfit_file(path_or_url: str | os.PathLike[str], *, format: str, keys: tuple[str, ...],
                     storage_options: Mapping[str, Any] | None = None,
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read and verify a bigfit zip; return its metadata and ``keys`` with arrays restored.

    Raises
    ------
    DataNotFoundError, FormatVersionError, ModelFileError
        See :func:`load_model`.
    """
    source = os.fspath(path_or_url)
    where = f"The {_NOUNS[format]} {source!r}"
    with _open_zip(source, where, storage_options) as archive:
        metadata = _read_metadata(archive, where)
        _check_format(metadata, format, where)
        manifest = _check_manifest(metadata.get("arrays"), where)
        _check_members(archive, manifest, where)
        arrays = {name: _read_array(archive, name, entry, where)
                  for name, entry in manifest.items()}
    tree = {}
    for key in keys:
        if not isinstance(metadata.get(key), dict):
            raise ModelFileError(f"{where} has no {key!r} object in its {_METADATA}. {_DAMAGED}")
        tree[key] = unflatten_state(metadata[key], arrays, source=where)
    return metadata, tree


def _write_whole(path: str, write: Callable[[IO[bytes]], None],
                 storage_options: Mapping[str, Any] | None) -> None:
    if not is_url(path):
        with atomic_write(os.path.expanduser(path.removeprefix("file://"))) as file:
            write(file)
        return
    fs = fsspec_filesystem(split_scheme(path)[0], storage_options)
    buffer = io.BytesIO()
    write(buffer)
    # One put: object stores make an object visible only once it is complete.  (An open
    # fsspec file would be committed half-written if the writer raised.)
    fs.pipe_file(fs._strip_protocol(path), buffer.getvalue())


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> dict[str, Any]:
    info = zipfile.ZipInfo(f"arrays/{name}.npy", date_time=_EPOCH)  # stored: floats barely deflate
    digest = hashlib.sha256()
    with archive.open(info, "w", force_zip64=array.nbytes >= _ZIP64_FROM) as member:
        npy.write_array(_HashingWriter(member, digest), array, allow_pickle=False)
    return {"sha256": digest.hexdigest(), "dtype": array.dtype.str, "shape": list(array.shape)}


@contextmanager
def _open_zip(source: str, where: str,
              storage_options: Mapping[str, Any] | None) -> Iterator[zipfile.ZipFile]:
    try:
        if is_url(source):
            fs = fsspec_filesystem(split_scheme(source)[0], storage_options)
            file: IO[bytes] = io.BytesIO(fs.cat_file(fs._strip_protocol(source)))
        else:
            file = open(os.path.expanduser(source.removeprefix("file://")), "rb")
    except FileNotFoundError as error:
        raise DataNotFoundError(f"{where} does not exist; check the path.") from error
    except IsADirectoryError as error:
        raise ModelFileError(f"{where} is a directory, not a file written by bigfit.") from error
    with file:
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, EOFError, ValueError) as error:
            raise ModelFileError(
                f"{where} is not a zip archive ({error}), so it was not written by bigfit "
                "or it is truncated. Check the path; write the file again if it is damaged."
            ) from error
        with archive:
            yield archive


def _read_metadata(archive: zipfile.ZipFile, where: str) -> dict[str, Any]:
    try:
        info = archive.getinfo(_METADATA)
    except KeyError:
        raise ModelFileError(
            f"{where} is a zip archive without {_METADATA}: it was not written by bigfit. "
            "Load a file written by bigfit's save."
        ) from None
    if info.file_size > _MAX_METADATA_BYTES:
        raise ModelFileError(f"{where} has a {_METADATA} of {info.file_size} bytes, more than "
                             f"bigfit ever writes. {_DAMAGED}")
    try:
        with archive.open(info) as member:
            metadata = json.loads(member.read())
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, RecursionError) as error:
        raise ModelFileError(
            f"{where}: {_METADATA} cannot be read as JSON ({error}). {_DAMAGED}"
        ) from error
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{where}: {_METADATA} is not a JSON object. {_DAMAGED}")
    return metadata


def _check_format(metadata: Mapping[str, Any], format: str, where: str) -> None:
    found = metadata.get("format")
    if found != format:
        what = (f"a bigfit {_NOUNS[found]}" if found in _NOUNS
                else f"of format {found!r}, not a bigfit file")
        raise ModelFileError(f"{where} is {what}; expected a {_NOUNS[format]}. Check the path.")
    version, supported = metadata.get("format_version"), _VERSIONS[format]
    if version == supported and type(version) is int:
        return
    writer = metadata.get("bigfit_version")
    if type(version) is int and version > supported:
        raise FormatVersionError(
            f"{where} was written by bigfit {writer} in format version {version}; this bigfit "
            f"({__version__}) reads format version {supported}. Upgrade bigfit to load it: "
            "pip install --upgrade bigfit"
        )
    raise FormatVersionError(
        f"{where} has the unknown format version {version!r} (written by bigfit {writer}); this "
        f"bigfit ({__version__}) reads format version {supported}. {_DAMAGED}"
    )


@dataclass(frozen=True)
class _Entry:
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    sha256: str


def _check_manifest(manifest: Any, where: str) -> dict[str, _Entry]:
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{where} has no 'arrays' manifest in its {_METADATA}. {_DAMAGED}")
    entries = {}
    for name, entry in manifest.items():
        fields = entry if isinstance(entry, dict) else {}
        dtype, shape, sha = fields.get("dtype"), fields.get("shape"), fields.get("sha256")
        if not _NAME.match(name):
            problem = "is not a valid array name"
        elif not (isinstance(dtype, str) and _DTYPE.match(dtype)):
            problem = (f"has dtype {dtype!r}: only bool and numeric arrays are allowed "
                       "(bigfit never loads pickled objects)")
        elif not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
            problem = f"has an invalid shape {shape!r}"
        elif not (isinstance(sha, str) and _SHA256.match(sha)):
            problem = f"has an invalid sha256 {sha!r}"
        else:
            try:
                entries[name] = _Entry(np.dtype(dtype), tuple(shape), sha)
                continue
            except TypeError:
                problem = f"has an unknown dtype {dtype!r}"
        raise ModelFileError(f"{where}: array {name!r} in the manifest {problem}. {_DAMAGED}")
    return entries


def _check_members(archive: zipfile.ZipFile, manifest: Mapping[str, _Entry], where: str) -> None:
    counts = Counter(info.filename for info in archive.infolist())
    names = set(counts)
    expected = {_METADATA} | {f"arrays/{name}.npy" for name in manifest}
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    extra = sorted(names - expected)
    missing = sorted(expected - names)
    encrypted = sorted(info.filename for info in archive.infolist() if info.flag_bits & 0x1)
    for problem, members in (("holds the same member twice", duplicates),
                             ("holds members its manifest does not list", extra),
                             ("lacks members its manifest lists", missing),
                             ("holds encrypted members", encrypted)):
        if members:
            raise ModelFileError(f"{where} {problem}: {members[:5]}. {_DAMAGED}")


def _read_array(archive: zipfile.ZipFile, name: str, entry: _Entry, where: str) -> np.ndarray:
    member = f"arrays/{name}.npy"
    info = archive.getinfo(member)
    size = int(np.prod(entry.shape, dtype=np.int64)) * entry.dtype.itemsize
    if info.file_size > size + _MAX_NPY_HEADER:
        raise ModelFileError(f"{where}: member {member!r} is larger than its manifest entry "
                             f"allows. {_DAMAGED}")
    digest = hashlib.sha256()
    try:
        with archive.open(info) as raw:
            stream = _HashingReader(raw, digest)
            try:
                array, problem = _read_npy(stream, entry), None
            except ValueError as error:
                array, problem = None, error
            while stream.read(1 << 20):  # hash the rest, so tampering is reported as such
                pass
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ModelFileError(f"{where}: member {member!r} cannot be read ({error}). "
                             f"{_DAMAGED}") from error
    if digest.hexdigest() != entry.sha256:
        raise ModelFileError(f"{where}: member {member!r} does not match its sha256 in "
                             f"{_METADATA}. {_DAMAGED}")
    if array is None:
        raise ModelFileError(f"{where}: member {member!r} is not a plain .npy array of "
                             f"{entry.dtype.str} {entry.shape} ({problem}). "
                             f"{_DAMAGED}") from problem
    return array


def _read_npy(stream: _HashingReader, entry: _Entry) -> np.ndarray:
    """Decode a ``.npy`` whose header must match ``entry``, without numpy's pickle path."""
    version = npy.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = npy.read_array_header_2_0(stream)
    else:
        raise ValueError(f".npy format version {version} is not supported")
    if dtype != entry.dtype or tuple(shape) != entry.shape:
        raise ValueError(f"its header says {dtype.str} {tuple(shape)}")
    array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
    raw = array.reshape(-1).view(np.uint8)  # a view: a fresh array is contiguous
    filled = 0
    while filled < raw.size:
        chunk = stream.read(min(raw.size - filled, 1 << 24))
        if not chunk:
            raise ValueError("the array data ends early")
        raw[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    if stream.read(1):
        raise ValueError("bytes follow the array data")
    return array.T if fortran else array


class _HashingWriter:
    """A write-only file that feeds what passes through it to a hash."""

    def __init__(self, file: IO[bytes], digest: Any) -> None:
        self._file, self._digest = file, digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return self._file.write(data)


class _HashingReader:
    """A read-only file that feeds what passes through it to a hash."""

    def __init__(self, file: IO[bytes], digest: Any) -> None:
        self._file, self._digest = file, digest

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._digest.update(data)
        return data
