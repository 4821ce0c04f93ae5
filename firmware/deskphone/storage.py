"""Crash-safe file writes for the config, the call log and other small state files.

A phone loses power whenever someone pulls the plug, so every file the firmware rewrites is
replaced atomically: the new content goes to a temporary file in the same directory (same
filesystem, so rename(2) is atomic), is fsync'ed, renamed over the old name, and then the
directory itself is fsync'ed so the rename survives a power cut. A reader sees either the old or
the new file, never a truncated mix (POSIX rename(2); ext4's data=ordered does not make a plain
open(..., "w") safe).

A power cut between creating the temporary file and the rename leaves that temporary file behind
(".NAME.XXXX.tmp"); the next write of the same file removes such leftovers first, so repeated cuts
never pile them up. Each file has one writer in the firmware (the first-boot script, the phone),
so no leftover can be another writer's file in progress.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_directory"]


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink inside `directory` durable (fsync(2) on the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path | str, data: bytes, *, mode: int = 0o600,
                       group: int | None = None) -> None:
    """Replace `path` with `data` atomically and durably; `mode` (and the numeric `group`, when
    given) are applied before the rename, so the file never appears with other permissions.

    The temporary file is removed if anything fails, and the old file is then left untouched.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"atomic write of {target}: directory {directory} does not exist "
            "(expected an existing directory on the same filesystem)")
    _remove_leftovers(directory, target.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            if group is not None:
                os.fchown(tmp.fileno(), -1, group)
            os.fchmod(tmp.fileno(), mode)  # after fchown: changing the group may clear setgid
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(directory)


def _remove_leftovers(directory: Path, name: str) -> None:
    """Temporary files of an earlier write of `name` that a power cut stopped before its rename
    (module docstring)."""
    # mkstemp's random part is 8 characters: another file's leftovers (".NAME.result.XXXXXXXX.tmp")
    # do not match.
    for leftover in directory.glob(f".{glob_escape(name)}.????????.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def glob_escape(text: str) -> str:
    """`text` matched literally by Path.glob (its wildcards in brackets)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def atomic_write_text(path: Path | str, text: str, *, mode: int = 0o600,
                      encoding: str = "utf-8", group: int | None = None) -> None:
    """`atomic_write_bytes` for text (UTF-8 by default)."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode, group=group)
