"""The security state of the current call, and the rules that change it (ZRTP, RFC 6189).

none → securing (ZRTP running) → secure (keys agreed, SAS not yet compared) → verified (SAS
compared now or in an earlier call); not_secure when the call could not be secured; mismatch when
someone may be in the middle. Two rules hold throughout: a call is called verified only when it
has a SAS and is secured, and a mismatch stands until the person compares the SAS again.

`CallSecurity` owns that state (with the SAS, why a call is not secure, and the peer-identity
warning). Each method returns the commands that go with its change (tones, the ZRTP cache's
verified flag), or None when the event changes nothing; the phone machine redraws the call
screen after a change. It never sees the machine, and never changes the call state.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.phone import events as ev
from deskphone.phone.vocabulary import PEER_WARNINGS, Security, warning_rank

# The states in which there is a SAS the person can compare (again).
_COMPARABLE = (Security.SECURE, Security.MISMATCH, Security.VERIFIED)


@dataclass
class CallSecurity:
    level: Security = Security.NONE
    sas: str | None = None
    not_secure_reason: str = ""
    possible_attack: bool = False  # the not-secure outcome is evidence of an attack (§8.1.1)
    peer_warning: str | None = None  # a PEER_WARNINGS key for the current call
    # The keys came from a post-quantum key agreement (ZRTP DPQ1): the "PQ" mark beside SECURE.
    # Set from the ZRTP result of this very call only, so a stripped offer shows no mark.
    post_quantum: bool = False

    def awaiting_comparison(self) -> bool:
        """The SAS or POSSIBLE MITM screen is up: '#' means "it matches", '*' "it does not"."""
        return self.level in (Security.SECURE, Security.MISMATCH) and self.sas is not None

    def _comparable(self) -> bool:
        return self.sas is not None and self.level in _COMPARABLE

    def confirm(self) -> list[ev.Command] | None:
        if not self._comparable():
            return None  # nothing to confirm: never call an unsecured call verified
        self.level = Security.VERIFIED
        return [ev.ConfirmSas(), ev.PlayTone(None)]

    def reject(self) -> list[ev.Command] | None:
        if not self._comparable():
            return None
        # The two people read different words: someone is in the middle (RFC 6189 §7).
        self.level = Security.MISMATCH
        self.post_quantum = False
        return [ev.RejectSas(), ev.PlayTone("mitm")]

    def reverify(self) -> list[ev.Command] | None:
        if self.level is not Security.VERIFIED or self.sas is None:
            return None  # only a verified call can be un-verified
        self.level = Security.SECURE
        return [ev.ClearVerified()]

    def securing(self) -> list[ev.Command] | None:
        if self.level is Security.MISMATCH:
            return None
        self.level = Security.SECURING
        return []

    def secured(self, sas: str, verified: bool, post_quantum: bool = False) -> list[ev.Command]:
        self.sas = sas
        self.post_quantum = post_quantum
        if self.level is Security.MISMATCH:
            return []  # a mismatch stands until the SAS is compared
        self.level = Security.VERIFIED if verified else Security.SECURE
        return [ev.PlayTone(None)]

    def not_secure(self, reason: str, possible_attack: bool = False) -> list[ev.Command] | None:
        if self.level is Security.MISMATCH:
            return None
        self.level = Security.NOT_SECURE
        self.post_quantum = False
        self.not_secure_reason = reason
        self.possible_attack = possible_attack
        # Evidence of an attack (RFC 6189 §8.1.1) gets the alarm, not the not-secure warning.
        return [ev.PlayTone("mitm" if possible_attack else "not_secure")]

    def mismatch(self, sas: str | None) -> list[ev.Command]:
        self.level = Security.MISMATCH
        self.post_quantum = False  # nothing about a possible MITM call earns a reassuring mark
        if sas is not None:
            self.sas = sas
        return [ev.PlayTone("mitm")]

    def on_event(self, event: ev.Event) -> list[ev.Command] | None:
        """A ZRTP outcome for this call (SecuringStarted, Secured, CallNotSecure, PossibleMitm)."""
        match event:
            case ev.SecuringStarted():
                return self.securing()
            case ev.Secured(sas=sas, verified=verified, post_quantum=post_quantum):
                return self.secured(sas, verified, post_quantum)
            case ev.CallNotSecure(reason=reason, possible_attack=possible_attack):
                return self.not_secure(reason, possible_attack)
            case ev.PossibleMitm(sas=sas):
                return self.mismatch(sas)
        return None

    def warn(self, kind: str) -> list[ev.Command] | None:
        """None: not a warning we know; []: noted; [the MITM tone]: it raised a mismatch."""
        if kind not in PEER_WARNINGS:
            return None
        if self.peer_warning is None or warning_rank(kind) > warning_rank(self.peer_warning):
            self.peer_warning = kind
        if kind == "zid_mismatch" and self.level is not Security.MISMATCH:
            # The ZRTP endpoint is not the phone the LAN announced: treat as a possible MITM.
            self.level = Security.MISMATCH
            return [ev.PlayTone("mitm")]
        return []
