"""Atomic writes: the target appears whole or not at all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bigfit.exceptions import InvalidParameterError
from bigfit.io.atomic import atomic_directory, atomic_write


class Boom(Exception):
    pass


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- atomic_write ---------------------------------------------------------------


def test_write_binary_creates_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    with atomic_write(target) as f:
        f.write(b"\x00\x01")
        assert not target.exists()  # invisible until the block ends
    assert target.read_bytes() == b"\x00\x01"
    assert entries(tmp_path) == ["model.bin"]


def test_write_text_is_utf8(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    with atomic_write(str(target), "w") as f:
        f.write("µ")
    assert target.read_bytes() == "µ".encode()


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert entries(tmp_path) == ["model.bin"]


def test_exception_keeps_old_content_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write(b"half")
        raise Boom
    assert target.read_bytes() == b"old"
    assert entries(tmp_path) == ["model.bin"]


def test_exception_on_new_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_write(tmp_path / "model.bin") as f:
        f.write(b"half")
        raise Boom
    assert entries(tmp_path) == []


def test_creates_missing_parents(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "a" / "model.bin"
    with atomic_write(target, fsync=False) as f:
        f.write(b"x")
    assert target.read_bytes() == b"x"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


@pytest.mark.parametrize("mode", ["r", "ab", "rb+", "x"])
def test_rejects_non_write_modes(tmp_path: Path, mode: str) -> None:
    with pytest.raises(InvalidParameterError, match="'mode' parameter"), atomic_write(
        tmp_path / "f", mode
    ):
        pass


def test_rejects_urls_for_now() -> None:
    with pytest.raises(InvalidParameterError, match="local paths only"), atomic_write(
        "s3://bucket/model.bin"
    ):
        pass


def test_killed_process_never_leaves_a_half_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    script = textwrap.dedent(f"""
        import os
        from bigfit.io.atomic import atomic_write
        with atomic_write({str(target)!r}) as f:
            f.write(b"half")
            f.flush()
            os._exit(3)
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == 3
    assert target.read_bytes() == b"old"
    leftovers = [name for name in entries(tmp_path) if name != "model.bin"]
    assert all(name.startswith(".model.bin.") and name.endswith(".tmp") for name in leftovers)


# --- atomic_directory -----------------------------------------------------------


def test_directory_appears_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "data"
    with atomic_directory(out) as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".data.")
        (tmp / "part-0.csv").write_text("a\n1\n")
        assert not out.exists()
    assert entries(out) == ["part-0.csv"]
    assert entries(tmp_path) == ["data"]


def test_directory_exception_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(Boom), atomic_directory(tmp_path / "data") as tmp:
        (tmp / "part-0.csv").write_text("a\n")
        raise Boom
    assert entries(tmp_path) == []


def test_directory_refuses_non_empty_before_running_the_block(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    entered = False
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        with atomic_directory(out):
            entered = True
    assert not entered
    assert entries(out) == ["keep.txt"]


def test_directory_refuses_when_target_appears_meanwhile(tmp_path: Path) -> None:
    out = tmp_path / "data"
    with pytest.raises(InvalidParameterError, match="not empty"):
        with atomic_directory(out) as tmp:
            (tmp / "new.txt").write_text("new")
            out.mkdir()
            (out / "other.txt").write_text("other writer")
    assert entries(out) == ["other.txt"]
    assert entries(tmp_path) == ["data"]


def test_directory_overwrite_replaces_content(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_directory(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert entries(out) == ["new.txt"]
    assert entries(tmp_path) == ["data"]


def test_directory_replaces_an_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    with atomic_directory(out, fsync=False) as tmp:
        (tmp / "new.txt").write_text("new")
    assert entries(out) == ["new.txt"]


def test_directory_refuses_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.write_text("a file")
    with pytest.raises(InvalidParameterError, match="not a directory"):
        with atomic_directory(out, overwrite=True):
            pass
    assert out.read_text() == "a file"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_directory_permissions_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "data"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o755
