"""Why the phone could not start, in one line a person can act on — never a traceback.

Whoever sits at the phone has no journal: when the phone cannot start (its config unreadable, a
device missing or held by another program, the SIP port taken, the disk full) it prints one line
that names the file, device or port and says what to do, exits non-zero, and leaves the same
line on the OLED when the display itself works (deskphone.run shows it there).

Stdlib only: devices/ raises StartupError, so this module sits below every layer of the package
(.importlinter).
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import sqlite3
from pathlib import Path
from typing import Any

# Room for a few call-log and ZRTP-cache writes: less than this and the phone would fail later,
# mid-call, instead of now with a clear line.
MIN_FREE_BYTES = 1 << 20


class StartupError(Exception):
    """The phone cannot start; str() is the one line to print and show.

    `display` is the OLED when it was opened before the failure, still open so the line can be
    left on it.
    """

    def __init__(self, line: str, *, display: Any = None) -> None:
        super().__init__(line)
        self.display = display


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _remedy(code: int | None, what: str) -> str | None:
    """What the person can do about an errno, or None when it is not one we can advise on."""
    if code in (errno.EACCES, errno.EPERM):
        return (f"permission denied for user {_user()}: give that user access to it "
                "(chown/chmod, or the device's group) and restart")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full: free some space on it and restart"
    if code == errno.EROFS:
        return "the file system is read-only: remount it read-write or choose another place"
    if code == errno.EADDRINUSE:
        return "already in use by another program: stop that program or choose another port"
    if code == errno.EADDRNOTAVAIL:
        return "not an address of this machine: choose one it has (ip address) or 0.0.0.0"
    if code == errno.EBUSY:
        return "busy: another program holds it; stop that program (fuser -v) and restart"
    if code in (errno.ENODEV, errno.ENXIO, errno.EREMOTEIO, errno.ETIMEDOUT):
        return "no answer from the device: check that it is connected and wired as in hw/README.md"
    if code == errno.ENOENT:
        if what.startswith("/dev/") or " /dev/" in what:
            return ("not found: check that the device is connected, its driver loaded and "
                    "[pins] in the config")
        return "not found: check the path"
    return None


def _with_errno(exc: OSError) -> OSError:
    """The error itself, or the one it wraps that has an errno (uvloop: "could not bind to
    local_addr ..." raised from the bind's OSError(EADDRINUSE))."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _ours(exc: BaseException) -> bool:
    """An error the phone raises itself (ConfigError, PinMapError...): its message already names
    the key or file and what is expected. Told by its module, so that this stdlib-only module,
    below every layer (.importlinter), need not import them."""
    return type(exc).__module__.startswith("deskphone.") and not isinstance(exc, OSError)


def explain(exc: BaseException, *, subject: str | None = None, data_dir: Path | None = None,
            sip_listen: str | None = None) -> str:
    """One line for `exc`: what failed (subject, the file, the port) and what to do."""
    if isinstance(exc, StartupError) or _ours(exc):
        return str(exc)
    name = type(exc).__name__
    if isinstance(exc, OSError):
        inner = _with_errno(exc)
        code = inner.errno
        filename = exc.filename or inner.filename
        if code == errno.EADDRINUSE and subject is None and sip_listen:
            subject = f"SIP port {sip_listen} ([sip] listen)"
        what = subject or (str(filename) if filename else "")
        remedy = _remedy(code, what)
        if remedy is None:
            remedy = inner.strerror or str(exc)
        elif subject and filename and str(filename) not in subject:
            what = f"{subject}: {filename}"
        return f"{what}: {remedy}" if what else remedy
    if isinstance(exc, sqlite3.Error):
        where = subject or (f"state in {data_dir}" if data_dir else "state database")
        text = str(exc)
        if "full" in text:
            return f"{where}: {_remedy(errno.ENOSPC, where)}"
        if "readonly" in text or "unable to open" in text:
            return f"{where}: {text}: check that user {_user()} may write there"
        return f"{where}: {text}"
    if name == "DeviceNotFoundError":  # luma.core.error: no /dev/i2c-N
        return f"{subject or 'device'}: {exc}: enable I2C (dtparam=i2c_arm=on) and check the wiring"
    if name == "DevicePermissionError":  # luma.core.error
        return f"{subject or 'device'}: {exc}: add user {_user()} to the device's group (i2c)"
    detail = str(exc) or name
    return f"{subject}: {detail}" if subject else f"{name}: {detail}"


def check_data_dir(data_dir: Path) -> None:
    """Refuse to start without a writable state folder with some room left in it."""
    probe = data_dir / ".deskphone-write-test"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StartupError(explain(exc, subject=f"--data-dir {data_dir}")) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    try:
        st = os.statvfs(data_dir)
    except OSError:
        return
    if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
        raise StartupError(f"--data-dir {data_dir}: {_remedy(errno.ENOSPC, str(data_dir))}")
