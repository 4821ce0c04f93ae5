"""The calls the person is not talking on (issue 15): each one's record, with its own security.

A desk phone with call waiting has one call in the earpiece and others beside it: a **waiting**
call (a second caller; the call-waiting tone plays in the earpiece, the ringer stays quiet) or a
**held** call (put on hold when the person answered the waiting one, or swapped). The machine
owns one `OtherCalls`; each `CallRecord` keeps what the person saw of that call — who, since
when, and its own `CallSecurity`, which goes on changing while the call is held (its ZRTP
session is its own): a SAS mismatch on a held call is flagged at once and its alarm sounds when
the call comes back.

Nothing here sees the machine or changes the call state; `machine.py` decides where the phone
goes, this module only remembers and answers questions ("which call waits?").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deskphone.phone import events as ev
from deskphone.phone.call_security import CallSecurity
from deskphone.phone.feature_events import RecordCall
from deskphone.phone.history_view import CallTracker, TrackedCall
from deskphone.phone.vocabulary import Security

WAITING, HELD = "waiting", "held"
CONFERENCE = "conference"  # a held call mixed with the one in the earpiece (issue 15)


@dataclass
class CallRecord:
    call_id: str
    peer: str
    role: str  # WAITING or HELD
    since: float  # when it started waiting, or was held
    security: CallSecurity = field(default_factory=CallSecurity)
    answered_at: float | None = None
    caller: str = ""  # a waiting caller's number or URI, and display name, for its ringing screen
    display_name: str | None = None
    tracked: TrackedCall | None = None  # a held call's history entry in the making

    def history_record(self, now: float) -> RecordCall | None:
        """The history entry of this call, ended at `now` with its own security: a held call's
        as tracked, a waiting caller nobody answered as missed."""
        if self.role == WAITING:
            return RecordCall(direction="missed", peer=self.caller, name=self.display_name or "",
                              started=self.since, answered=None, ended=now, security="none")
        return CallTracker.record(self.tracked, now, self.security.level.value)

    def info(self, hearing: bool = False) -> dict[str, object]:
        return {"id": self.call_id, "peer": self.peer, "state": self.role,
                "security": self.security.level.value, "sas": self.security.sas,
                "verified": self.security.level is Security.VERIFIED,
                "hearing": hearing or self.role == CONFERENCE}


class OtherCalls:
    def __init__(self) -> None:
        self.records: dict[str, CallRecord] = {}

    def __contains__(self, call_id: object) -> bool:
        return call_id in self.records

    def __bool__(self) -> bool:
        return bool(self.records)

    def _first(self, role: str) -> CallRecord | None:
        return next((r for r in self.records.values() if r.role == role), None)

    def waiting(self) -> CallRecord | None:
        return self._first(WAITING)

    def held(self) -> CallRecord | None:
        return self._first(HELD)

    def conference(self) -> CallRecord | None:
        """The other leg of a conference, if the phone mixes one."""
        return self._first(CONFERENCE)

    def add_waiting(self, call: ev.CallArrived, now: float) -> CallRecord:
        record = CallRecord(call.call_id, call.display_name or call.caller, WAITING, now,
                            caller=call.caller, display_name=call.display_name)
        self.records[call.call_id] = record
        return record

    def hold(self, call_id: str, peer: str, security: CallSecurity, answered_at: float | None,
             now: float, tracked: TrackedCall | None = None) -> None:
        self.records[call_id] = CallRecord(call_id, peer, HELD, now, security, answered_at,
                                           tracked=tracked)

    def take(self, call_id: str) -> CallRecord | None:
        return self.records.pop(call_id, None)

    def waited_too_long(self, now: float, ring_seconds: float) -> list[CallRecord]:
        """Waiting calls nobody answered in `ring_seconds`: they are given up (480)."""
        late = [r for r in self.records.values()
                if r.role == WAITING and now - r.since >= ring_seconds]
        for record in late:
            del self.records[record.call_id]
        return late

    def on_security(self, record: CallRecord, event: ev.Event) -> bool:
        """Apply a ZRTP outcome to that call's own security; True when it raised an alarm."""
        security = record.security
        match event:
            case ev.SecuringStarted():
                security.securing()
            case ev.Secured(sas=sas, verified=verified):
                security.secured(sas, verified)
            case ev.CallNotSecure(reason=reason):
                return security.not_secure(reason) is not None
            case ev.PossibleMitm(sas=sas):
                security.mismatch(sas)
                return True
        return False

    def summary(self) -> str:
        """The in-call screen's line about the held call, "!" first when it alarms."""
        record = self.held()
        if record is None:
            return ""
        alarm = record.security.level in (Security.MISMATCH, Security.NOT_SECURE)
        return f"{'! ' if alarm else ''}Held: {record.peer}"

    def info(self) -> list[dict[str, object]]:
        return [record.info() for record in self.records.values()]
