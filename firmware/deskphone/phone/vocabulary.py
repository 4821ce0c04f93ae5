"""The phone's vocabulary: its call and security states, its keys, and how a call's end is shown.

Shared by the state machine (`machine.py`), the call screens it builds (`call_view.py`), the call's
security (`call_security.py`) and the transfer sub-flow (`transfer.py`): none of them owns these
names, so they live here, below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CallState(StrEnum):
    IDLE = "idle"
    OFFHOOK = "offhook"
    DIALING = "dialing"
    CALLING = "calling"
    RINGING = "ringing"
    IN_CALL = "in_call"
    TRANSFER_DIALING = "transfer_dialing"
    TRANSFERRING = "transferring"
    HELD = "held"  # no call in the earpiece, one on hold (issue 15)
    ENDED = "ended"


class Security(StrEnum):
    NONE = "none"
    SECURING = "securing"
    SECURE = "secure"
    VERIFIED = "verified"
    NOT_SECURE = "not_secure"
    MISMATCH = "mismatch"


DIAL_KEYS = frozenset("0123456789")
TRANSFER_KEY = "A"  # the top key of the 4x4 keypad's letter column, labelled XFER
STATS_KEY = "B"  # the 4x4 keypad's second letter key, labelled INFO: call quality on/off
REVERIFY_KEY = "C"  # labelled SAS: forget the verification and compare the words again
VOICEMAIL_KEY = "*"  # on the idle screen (list closed): call the voicemail number
SWAP_KEY = "D"  # labelled SWAP: answer the waiting call (holding this one), or swap calls
# '#' with a call on hold (and no SAS to compare): mix both calls into a 3-way conference on
# this phone; on both keypads ('#' is on the 4x3 too), also `ctl conference`.
CONFERENCE_KEY = "#"


@dataclass(frozen=True)
class KeyNames:
    """How the screens name the keys of several calls: a 4x4's letter keys, or on a 4x3 (no
    letters) the hook flash R and its codes (phone/hook_flash.py)."""

    swap: str  # answer the waiting call / swap to the held one
    transfer: str  # hand the held call over to the heard one (attended transfer)
    resume: str  # no call in the earpiece, handset up: bring the held call back


LETTER_KEYS = KeyNames(swap=SWAP_KEY, transfer=TRANSFER_KEY, resume=SWAP_KEY)
FLASH_KEYS = KeyNames(swap="R2", transfer="R4", resume="R")  # R: down and up again, quickly
IN_CALL_STATES = frozenset({"in_call", "transfer_dialing", "transferring"})
# How a PeerWarning is put on the call screens.
# The NOT SECURE screen's detail for a failure that is evidence of an attack (RFC 6189 §8.1.1):
# the peer's Hello did not hash to the a=zrtp-hash its SDP announced.
ATTACK_DETAIL = "Key exchange does not match the call setup"
# "not_saved": the retained secret of this call could not be written (RFC 6189 §4.9), so the next
# call with this peer cannot check key continuity and may raise a mismatch.
PEER_WARNINGS = {"new_zid": "NEW PHONE ID", "zid_mismatch": "WRONG PHONE ID",
                 "not_saved": "KEY NOT SAVED"}
_WARNING_RANK = {"new_zid": 0, "not_saved": 1, "zid_mismatch": 2}


def warning_rank(kind: str) -> int:
    """Of two warnings in one call, the one with the higher rank is shown."""
    return _WARNING_RANK.get(kind, -1)

MAX_DIGITS = 32  # E.164 is 15 digits; leave room for prefixes and PINs, never grow unbounded

# How each end-of-call reason is put to a person: (screen title, tone).
END_REASONS: dict[str, tuple[str, str | None]] = {
    "busy": ("Busy", "busy"),
    "declined": ("Declined", "busy"),
    "unreachable": ("Unreachable", "reorder"),
    "timeout": ("No answer", "reorder"),
    "cancelled": ("Call ended", None),
    "remote_hangup": ("Call ended", "busy"),
    "local_hangup": ("Call ended", None),
    "failed": ("Call failed", "reorder"),
    "not_secure": ("Not secure", "not_secure"),
    "attack": ("Possible attack", "mitm"),  # refused: RFC 6189 §8.1.1 evidence (CallNotSecure)
    "transferred": ("Transferred", None),
    "connection_lost": ("Connection lost", "reorder"),
}
