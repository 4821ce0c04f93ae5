"""The phone's own small state files in its data directory: the call history (history.jsonl)
and the contacts (contacts.txt, written by the person; read only).

Each is read once at start and replaced atomically on every change (deskphone.storage: temp
file, fsync, rename, fsync of the directory), so a power cut leaves the old or the new file. A
file that is corrupt or hostile never stops the phone: the lines that parse are kept, each bad
line is logged with the file and its line number, and the next write leaves only good lines.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deskphone.phone.contacts import ContactBook, LanPeer, parse_contacts
from deskphone.phone.feature_events import (
    ContactsChanged,
    HistoryChanged,
    MarkHistorySeen,
    RecordCall,
)
from deskphone.phone.history import (
    MAX_NAME,
    MAX_PEER,
    SECURITY_LABELS,
    CallHistory,
    CallRecord,
    parse_history,
)
from deskphone.phone.names import log_text
from deskphone.routing.dialplan import resolve_speed_dials
from deskphone.storage import atomic_write_text

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
SETTINGS_FILE = "settings.json"  # what the person set on the phone itself: volumes
VOLUMES = ("earpiece", "ringer")
MAX_VOLUME = 10
UNITY_VOLUME = 8  # the level at which audio plays as captured; 10 is 1.25x, 0 is silent
CONTACTS_FILE = "contacts.txt"
MAX_FILE_BYTES = 1 << 20  # 100 records are ~20 KB; a bigger file is read only this far


def read_state_file(path: Path) -> str:
    """A state file's text ("" when it does not exist yet); undecodable bytes are replaced, so
    one bad byte costs one line, not the file."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        log.warning("%s: cannot read (%s); starting without it", path, exc.strerror or exc)
        return ""
    return data.decode("utf-8", errors="replace")


class HistoryKeeper:
    """The stored call history: records what the machine reports, tells it what changed."""

    def __init__(self, path: Path, *, clock: Callable[[], float],
                 wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock  # the machine's `now` (monotonic)
        self.wall = wall
        self.history, errors = parse_history(read_state_file(path), str(path))
        for error in errors:
            log.warning("%s (line skipped)", error)
        self.load_errors = errors

    def event(self) -> HistoryChanged:
        return HistoryChanged(entries=self.history.newest_first(),
                              missed=self.history.missed_unseen,
                              last_dialled=self.history.last_dialled())

    def apply(self, command: RecordCall | MarkHistorySeen) -> HistoryChanged:
        if isinstance(command, RecordCall):
            if not command.peer:
                return self.event()
            self.history.add(self._record(command))
            log.info("call history: %s %s (%s)", command.direction, log_text(command.peer),
                     command.security)
        elif not self.history.mark_seen():
            return self.event()
        self.save()
        return self.event()

    def save(self) -> None:
        try:
            atomic_write_text(self.path, self.history.dumps())
        except OSError as exc:  # a full or read-only disk: the list stays in memory
            log.warning("%s: cannot save the call history (%s)", self.path,
                        exc.strerror or exc)

    def _record(self, command: RecordCall) -> CallRecord:
        # Monotonic times from the machine become wall-clock time here, at the one place that
        # reads the wall clock.
        started = self.wall() - max(0.0, self.clock() - command.started)
        duration = 0 if command.answered is None else round(command.ended - command.answered)
        return CallRecord(direction=command.direction,
                          peer=_printable(command.peer, MAX_PEER),
                          name=command.name[:MAX_NAME], started=max(0.0, started),
                          duration=max(0, duration), security=command.security,
                          seen=command.direction != "missed")

    def listing(self) -> dict[str, object]:
        """What the control socket's `history` answers: newest first."""
        return {
            "missed": self.history.missed_unseen,
            "entries": [{**r.to_json(), "security_label": SECURITY_LABELS[r.security],
                         "position": i} for i, r in enumerate(self.history.newest_first(), 1)],
        }


def speed_dials_with_contacts(dialplan: dict[str, Any], keeper: ContactsKeeper) -> dict[str, Any]:
    """The [dialplan] table with speed dials that name a contact turned into its target; an
    unknown name raises DialPlanError naming the key and the contacts file (a start error)."""
    return resolve_speed_dials(dialplan, keeper.targets(), str(keeper.path))


def contacts_path(configured: Path | None, data_dir: Path) -> Path:
    """[phone] contacts_file (relative to the data directory), or contacts.txt there."""
    return data_dir / (configured if configured is not None else CONTACTS_FILE)


class ContactsKeeper:
    """The contacts file, read once at start, and the LAN's phones as the call layer sees them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.contacts, errors = parse_contacts(read_state_file(path), str(path))
        for error in errors:
            log.warning("%s (line skipped)", error)
        self.load_errors = errors

    def targets(self) -> dict[str, str]:
        """name → number or URI, for speed dials that name a contact (the first of a name)."""
        named: dict[str, str] = {}
        for contact in self.contacts:
            named.setdefault(contact.name, contact.target)
        return named

    def book(self, lan_directory: list[dict[str, Any]], history: CallHistory) -> ContactBook:
        lan = []
        for peer in lan_directory:
            try:
                lan.append(LanPeer(extension=str(peer["extension"]), name=str(peer["name"] or ""),
                                   host=str(peer["host"]), port=int(peer["port"]),
                                   verified=bool(peer.get("verified")),
                                   zid_changed=bool(peer.get("zid_changed"))))
            except (KeyError, TypeError, ValueError):
                continue  # a half-announced peer: not a contact yet
        # A peer whose newest call in the history ended in a SAS mismatch keeps a warning mark.
        newest: dict[str, str] = {}
        for record in history.newest_first():
            newest.setdefault(record.peer, record.security)
        mismatched = [peer for peer, security in newest.items() if security == "mismatch"]
        return ContactBook(self.contacts, lan, mismatched)

    def event(self, lan_directory: list[dict[str, Any]], history: CallHistory) -> ContactsChanged:
        return ContactsChanged(self.book(lan_directory, history))


class VolumeKeeper:
    """Earpiece and ringer volume, 0 to 10, remembered across restarts in settings.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.levels = dict.fromkeys(VOLUMES, UNITY_VOLUME)
        text = read_state_file(path)
        if not text:
            return
        try:
            stored = json.loads(text)
            if not isinstance(stored, dict):
                raise ValueError(f"expected a JSON object, got {type(stored).__name__}")
        except ValueError as exc:
            log.warning("%s line 1: %s; volumes back to %d", path, exc, UNITY_VOLUME)
            return
        for name, level in stored.get("volume", {}).items() if isinstance(
                stored.get("volume"), dict) else ():
            if name in VOLUMES and isinstance(level, int) and not isinstance(level, bool) \
                    and 0 <= level <= MAX_VOLUME:
                self.levels[name] = level
            else:
                log.warning("%s: field 'volume.%s' is %r, expected %s 0 to %d", path,
                            log_text(str(name)), level, " or ".join(VOLUMES), MAX_VOLUME)

    def gain(self, name: str) -> float:
        return self.levels[name] / UNITY_VOLUME

    def change(self, name: str, how: str) -> int:
        """`how` is up, down or a level 0..10; the new level (saved)."""
        level = self.levels[name]
        level = level + 1 if how == "up" else level - 1 if how == "down" else int(how)
        self.levels[name] = max(0, min(MAX_VOLUME, level))
        try:
            atomic_write_text(self.path, json.dumps({"volume": self.levels}, sort_keys=True))
        except OSError as exc:
            log.warning("%s: cannot save the volume (%s)", self.path, exc.strerror or exc)
        return self.levels[name]


def _printable(text: str, limit: int) -> str:
    """A network-supplied string for the file: printable, one line, bounded."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
