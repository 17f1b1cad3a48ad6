"""The package: public names, a light import, the version."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bigfit


def test_public_names_resolve_and_are_sorted() -> None:
    assert bigfit.__all__ == sorted(bigfit.__all__)
    for name in bigfit.__all__:
        assert getattr(bigfit, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bigfit.nope  # noqa: B018


def test_import_is_light() -> None:
    code = ("import sys, bigfit; heavy = [m for m in ('numpy', 'pyarrow', 'typer', 'rich') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_worker_tasks_do_not_import_scikit_learn() -> None:
    """A worker that runs passes over shards imports their modules, not the estimators."""
    code = ("import sys, bigfit.models.linear._objective, bigfit.models.linear._minibatch, "
            "bigfit.models.linear._prepare, bigfit.models.linear; print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from bigfit.models import linear

    assert linear.LogisticRegression is bigfit.LogisticRegression
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        linear.Nope  # noqa: B018


def test_version_everywhere() -> None:
    from importlib.metadata import version

    assert bigfit.__version__ == version("bigfit")
    out = subprocess.run([sys.executable, "-m", "bigfit", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"bigfit {bigfit.__version__}"
