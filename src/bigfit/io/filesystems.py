"""URLs and filesystems: turn a path or URL into a pyarrow filesystem and a path on it.

Local paths use pyarrow's own filesystem; every URL (``s3://``, ``gs://``, ``abfs://``,
``hdfs://``, ``memory://``, ``http://`` ...) goes through fsspec, whose ``storage_options``
(``key``, ``secret``, ``endpoint_url``, ``client_kwargs`` ...) users already know from
pandas and Dask.  The fsspec filesystem is wrapped for pyarrow, so readers see one API.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow.fs as pafs

from bigfit.exceptions import MissingDependencyError

# URL scheme -> (pip extra, module fsspec needs) for the install hint.
_EXTRAS = {
    "s3": ("s3", "s3fs"), "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"), "gcs": ("gcs", "gcsfs"),
    "abfs": ("azure", "adlfs"), "abfss": ("azure", "adlfs"), "az": ("azure", "adlfs"),
}


def split_scheme(url: str) -> tuple[str, str]:
    """Return ``(scheme, rest)``; the scheme is ``""`` for local paths."""
    if "://" in url:
        scheme, rest = url.split("://", 1)
        if scheme and scheme.isascii() and scheme.replace("+", "").isalnum():
            return scheme.lower(), rest
    return "", url


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL with a scheme other than ``file``."""
    return split_scheme(path)[0] not in ("", "file")


def resolve(url: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None,
            ) -> tuple[pafs.FileSystem, str]:
    """Return the filesystem that holds ``url`` and the path of ``url`` on it.

    Parameters
    ----------
    url : str or path-like
        A local path, ``file://`` URL or any fsspec URL.
    storage_options : mapping, optional
        Passed to the fsspec filesystem (credentials, endpoint, region ...).  Without
        them, S3 reads the usual ``AWS_*`` environment variables, including
        ``AWS_ENDPOINT_URL`` for S3-compatible stores.

    Returns
    -------
    filesystem : pyarrow.fs.FileSystem
    path : str
    """
    text = os.fspath(url)
    scheme, rest = split_scheme(text)
    if scheme in ("", "file"):
        path = rest if scheme else text
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))
    fs = fsspec_filesystem(scheme, storage_options)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), fs._strip_protocol(text)


def fsspec_filesystem(scheme: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """Return an fsspec filesystem for ``scheme``, with a pip hint when its package is missing."""
    import fsspec

    options = dict(storage_options or {})
    if scheme in ("s3", "s3a"):
        options = _s3_options(options)
    try:
        return fsspec.filesystem(scheme, **options)
    except ImportError as error:
        extra, module = _EXTRAS.get(scheme, (None, None))
        hint = f"pip install 'bigfit[{extra}]'" if extra else f"install the fsspec backend for {scheme!r}"
        raise MissingDependencyError(
            f"Reading {scheme}:// URLs needs {module or 'an extra package'}: {hint}"
        ) from error
    except ValueError as error:
        if "Protocol not known" in str(error):
            raise MissingDependencyError(f"No filesystem is known for {scheme}:// URLs.") from error
        raise


def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
    """Fill S3 endpoint and region from the AWS environment when not given."""
    client_kwargs = dict(options.pop("client_kwargs", None) or {})
    endpoint = options.pop("endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL_S3") \
        or os.environ.get("AWS_ENDPOINT_URL")
    region = options.pop("region", None) or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:
        options["endpoint_url"] = endpoint
    if region:
        client_kwargs.setdefault("region_name", region)
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    return options


def file_token(info: pafs.FileInfo) -> str:
    """Return a short token that changes when the file changes (size and mtime)."""
    mtime = info.mtime_ns if info.mtime is not None else 0
    return f"{info.size}:{mtime}"
