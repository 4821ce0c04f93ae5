"""Atomic, durable file replacement (deskphone.storage)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deskphone import storage
from deskphone.storage import atomic_write_bytes, atomic_write_text


def test_replaces_content_and_applies_mode(tmp_path: Path) -> None:
    target = tmp_path / "calls.json"
    target.write_text("old")
    atomic_write_text(target, "new ☎", mode=0o640)
    assert target.read_text(encoding="utf-8") == "new ☎"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["calls.json"]  # no temp file left


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deskphone.toml"
    target.write_bytes(b"old")

    def power_cut(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage.os, "fsync", power_cut)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["deskphone.toml"]


def test_directory_is_fsynced_after_the_rename(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(storage.os, "fsync", record)
    atomic_write_bytes(tmp_path / "x", b"1")
    assert synced == ["file", "dir"]


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="directory .*nope does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "x", b"1")


def test_group_is_set_before_the_file_appears(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deskphone.toml"
    seen: list[tuple[int, int]] = []
    real_replace = os.replace

    def replace(src: str, dst: Path) -> None:
        st = os.stat(src)
        seen.append((stat.S_IMODE(st.st_mode), st.st_gid))
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace)
    gid = os.getgid()  # chown to one's own group needs no root
    atomic_write_text(target, "[identity]\n", mode=0o640, group=gid)
    assert seen == [(0o640, gid)]
    assert target.stat().st_gid == gid


def test_leftovers_of_a_cut_write_are_removed_by_the_next_write_of_that_file(tmp_path: Path) -> None:
    target = tmp_path / "deskphone.toml"
    mine = tmp_path / ".deskphone.toml.abcd1234.tmp"  # what a power cut before the rename leaves
    other = tmp_path / ".deskphone.toml.result.abcd1234.tmp"  # another file's: not ours
    mine.write_text("half")
    other.write_text("half")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert not mine.exists() and other.exists()
