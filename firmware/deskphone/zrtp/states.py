"""The states of a ZRTP session (RFC 6189 §4).

Only the names live here, so every handler module can use them; the transitions between them are
the one table at the end of `session.py`.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    IDLE = "idle"
    DISCOVERY = "discovery"  # sending Hello, waiting for the peer's Hello and our HelloACK
    COMMIT_SENT = "commit sent"  # candidate initiator
    DHPART1_SENT = "DHPart1 sent"  # responder
    DHPART2_SENT = "DHPart2 sent"  # initiator
    CONFIRM1_SENT = "Confirm1 sent"  # responder
    CONFIRM2_SENT = "Confirm2 sent"  # initiator
    SECURE = "secure"
    FAILED = "failed"
