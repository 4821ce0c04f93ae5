"""The call history: what calls came and went, kept bounded, read and written as JSON Lines.

Pure objects, no file I/O: `parse_history` turns a file's text into a `CallHistory` (and one
error per line it refused), `CallHistory.dumps` turns it back into text; the app reads and
writes the file (atomically, deskphone.storage) and carries the records the machine reports.

The file format is one JSON object per line, oldest first, so a bad line names itself and the
rest survive (a power cut cannot truncate it: it is replaced whole, never appended to):

    {"direction": "missed", "peer": "sip:201@10.0.0.7", "name": "Alice", "started": 1764690000.0,
     "duration": 0, "security": "none", "seen": false}

`direction` is incoming | outgoing | missed | forwarded (call forwarding sent it on);
`security` is what the call reached at its end: verified | secure | not_secure | mismatch |
none (never answered, or not secured yet).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

DIRECTIONS = ("incoming", "outgoing", "missed", "forwarded")
SECURITY_LEVELS = ("verified", "secure", "not_secure", "mismatch", "none")
# How each security level is said in the history list and the control socket.
SECURITY_LABELS = {"verified": "verified", "secure": "secure", "not_secure": "not secure",
                   "mismatch": "possible MITM", "none": "-"}
MAX_ENTRIES = 100  # a desk phone's list; the oldest entry goes when a new one comes
MAX_LINE = 4096  # a hostile file cannot make one record cost more than this to parse
MAX_PEER = 256  # as the control socket's `dial` accepts
MAX_NAME = 128


@dataclass(frozen=True)
class CallRecord:
    direction: str
    peer: str  # what calling back dials: a number or a sip: URI
    name: str  # the display name the call came with, or ""
    started: float  # wall-clock seconds (Unix time) when the call began
    duration: int  # seconds talked; 0 for a missed or unanswered call
    security: str
    seen: bool = True  # a missed call is unseen until the person opens the history

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class HistoryError(ValueError):
    """One line of a history file that is not a record (names the field and what was expected)."""


def record_from_json(value: object) -> CallRecord:
    if not isinstance(value, dict):
        raise HistoryError(f"expected a JSON object, got {type(value).__name__}")
    unknown = set(value) - set(CallRecord.__dataclass_fields__)
    if unknown:
        raise HistoryError(f"unknown field {sorted(unknown)[0]!r}")

    def field(key: str, kind: type | tuple[type, ...], expected: str) -> object:
        item = value.get(key)
        if not isinstance(item, kind) or isinstance(item, bool) and kind is not bool:
            raise HistoryError(f"field {key!r} is {item!r}, expected {expected}")
        return item

    direction = field("direction", str, " | ".join(DIRECTIONS))
    if direction not in DIRECTIONS:
        raise HistoryError(f"field 'direction' is {direction!r}, expected "
                           + " | ".join(DIRECTIONS))
    peer = field("peer", str, "a number or SIP URI")
    assert isinstance(peer, str)
    if not peer or len(peer) > MAX_PEER or not peer.isprintable():
        raise HistoryError(f"field 'peer' is {peer[:40]!r}, expected 1 to {MAX_PEER} printable "
                           "characters")
    name = value.get("name", "")
    if not isinstance(name, str):
        raise HistoryError(f"field 'name' is {name!r}, expected a string")
    started = field("started", (int, float), "Unix time in seconds")
    assert isinstance(started, int | float)
    if not math.isfinite(started) or started < 0:
        raise HistoryError(f"field 'started' is {started!r}, expected Unix time in seconds")
    duration = field("duration", int, "whole seconds")
    assert isinstance(duration, int)
    if not 0 <= duration <= 10 * 24 * 3600:
        raise HistoryError(f"field 'duration' is {duration!r}, expected 0 to 864000 seconds")
    security = field("security", str, " | ".join(SECURITY_LEVELS))
    if security not in SECURITY_LEVELS:
        raise HistoryError(f"field 'security' is {security!r}, expected "
                           + " | ".join(SECURITY_LEVELS))
    seen = value.get("seen", True)
    if not isinstance(seen, bool):
        raise HistoryError(f"field 'seen' is {seen!r}, expected true or false")
    return CallRecord(direction=str(direction), peer=peer, name=name[:MAX_NAME],
                      started=float(started), duration=duration, security=str(security),
                      seen=seen)


class CallHistory:
    """The newest `limit` records; adding one more drops the oldest."""

    def __init__(self, records: Iterable[CallRecord] = (), limit: int = MAX_ENTRIES) -> None:
        self.limit = limit
        self._records: deque[CallRecord] = deque(records, maxlen=limit)

    def add(self, record: CallRecord) -> None:
        self._records.append(record)

    def newest_first(self) -> tuple[CallRecord, ...]:
        return tuple(reversed(self._records))

    def __len__(self) -> int:
        return len(self._records)

    @property
    def missed_unseen(self) -> int:
        return sum(1 for r in self._records if r.direction == "missed" and not r.seen)

    def mark_seen(self) -> bool:
        """Every missed call is now seen; True when that changed anything."""
        if not self.missed_unseen:
            return False
        self._records = deque((replace(r, seen=True) for r in self._records), maxlen=self.limit)
        return True

    def last_dialled(self) -> str | None:
        """What redial calls: the peer of the newest outgoing call."""
        return next((r.peer for r in reversed(self._records) if r.direction == "outgoing"), None)

    def dumps(self) -> str:
        return "".join(json.dumps(r.to_json(), ensure_ascii=True, sort_keys=True) + "\n"
                       for r in self._records)


def parse_history(text: str, source: str,
                  limit: int = MAX_ENTRIES) -> tuple[CallHistory, list[str]]:
    """The records of a history file's text, and one message per refused line
    ("history.jsonl line 3: field 'duration' is -5, expected ..."); the rest are kept."""
    records: list[CallRecord] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            if len(line) > MAX_LINE:
                raise HistoryError(f"{len(line)} characters, expected at most {MAX_LINE}")
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise HistoryError(f"not JSON ({exc.args[0] if exc.args else exc})") from None
            records.append(record_from_json(value))
        except HistoryError as exc:
            errors.append(f"{source} line {number}: {exc}")
    return CallHistory(records, limit=limit), errors
