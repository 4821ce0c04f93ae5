"""What one call's ZRTP outcome means for the phone (RFC 6189 §4.6), as phone events.

Each call has its own ZRTP session (issue 15: held and waiting calls too), so every event names
its call. Its keys are already on the call's media stream (zrtp_driver.py); here the outcome
only moves the call's state and tells the phone. With `require_secure`, a call that cannot be
secured is ended instead of going on NOT SECURE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from deskphone.calls.call import ActiveCall, LegInput
from deskphone.calls.peer_identity import warning_after_zrtp
from deskphone.phone import events as pev
from deskphone.zrtp import events as zev

log = logging.getLogger(__name__)


def zrtp_outcome(call: ActiveCall, event: zev.ZrtpEvent, *, require_secure: bool,
                 emit: Callable[[pev.Event], None],
                 hang_up: Callable[[ActiveCall], None]) -> None:
    cid = call.call_id
    if isinstance(event, zev.Securing):
        emit(pev.SecuringStarted(call_id=cid))
    elif isinstance(event, zev.Secure | zev.CacheMismatch):
        call.advance(LegInput.SECURED)
        if isinstance(event, zev.CacheMismatch):
            emit(pev.PossibleMitm(event.sas, call_id=cid))
        else:
            emit(pev.Secured(event.sas, event.verified, event.post_quantum, call_id=cid))
        if (warning := warning_after_zrtp(call.lan, event.peer_zid)) is not None:
            emit(pev.PeerWarning(warning))
    elif isinstance(event, zev.CacheWriteFailed):
        # The keys are good and SRTP stays; key continuity for the next call is lost
        # (RFC 6189 §4.9), which the person must see rather than meet as a mismatch later.
        log.warning("call %s: ZRTP retained secret not saved", cid)
        emit(pev.PeerWarning("not_saved"))
    elif isinstance(event, zev.NotSecure):
        if require_secure:
            log.warning("call %s: ZRTP failed and require_secure is set: ending it", cid)
            hang_up(call)
            emit(pev.CallFinished("attack" if event.possible_attack else "not_secure", None,
                                  event.reason, call_id=cid))
            return
        call.advance(LegInput.CLEARTEXT)
        emit(pev.CallNotSecure(event.reason, event.possible_attack, call_id=cid))
