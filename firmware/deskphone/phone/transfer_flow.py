"""Blind transfer's handlers (RFC 3515, flows of RFC 5589 §6): keying the target, sending it,
and what comes back — as transferor (the far end calls the target; on success our leg ends) and
as transferee (our call set aside while the transfer's call is placed, back if that fails).

`TransferFlow` is owned by the machine (`machine.transfer_flow`); its handlers are rows
`transfer_flow.NAME` of the table (transitions.py). What belongs to the transfer alone — the
target, why it failed, the call set aside — is the machine's `BlindTransfer` (transfer.py); the
call state is reached only through the machine's public state and helpers (`CallHost`).
"""

from __future__ import annotations

from dataclasses import replace

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.screens import CallingScreen
from deskphone.phone.transfer import (
    NOTICE_SECONDS,
    Keyed,
    SetAsideCall,
    TransferNotice,
    failure_text,
)
from deskphone.phone.vocabulary import CallState

Commands = list[ev.Command]


class TransferFlow:
    def __init__(self, machine: CallHost) -> None:
        self.m = machine

    def key(self, event: ev.KeyPressed) -> Commands:
        keyed = self.m.transfer.press(event.key)
        if keyed is Keyed.TYPED:
            self.m.set_timer("interdigit", self.m.now + self.m.settings.interdigit_timeout)
        if keyed in (Keyed.TYPED, Keyed.ERASED):
            return self.m.refresh_call_screen()
        if keyed is Keyed.FULL:
            return [ev.PlayTone("error")]
        if keyed is Keyed.SEND:
            return self.send(self.m.transfer.target or "")
        if keyed is Keyed.BACK:
            return self.back_to_call()
        return []

    def dialled(self, event: ev.TransferDialed) -> Commands:
        return self.send(event.target)

    def send(self, target: str) -> Commands:
        if not target:
            return self.back_to_call()
        self.m.state = CallState.TRANSFERRING
        self.m.transfer.send(target)
        self.m.set_timer("refresh", self.m.now + 1.0)
        return [ev.TransferCall(target), *self.m.refresh_call_screen()]

    def back_to_call(self) -> Commands:
        self.m.state = CallState.IN_CALL
        self.m.transfer.close()
        self.m.set_timer("refresh", self.m.now + 1.0)
        return self.m.refresh_call_screen()

    def done(self, event: ev.TransferSucceeded) -> Commands:
        handed = self.m.others.take(event.call_id)  # attended: the held call handed over
        target = f"{handed.peer} to {self.m.peer}" if handed else self.m.transfer.target or ""
        return [ev.HangUp(), *self.m.end("Transferred", target, None)]

    def progress(self, event: ev.TransferProgress) -> Commands:
        # RFC 3515 §2.4.5: the sipfrag of each NOTIFY before the final one, on the screen.
        self.m.transfer.progress = f"{event.code} {event.reason}".strip()
        return self.m.refresh_call_screen()

    def refused(self, event: ev.TransferAborted) -> Commands:
        transfer = self.m.transfer
        transfer.record_failure(event.detail)
        # Who was to go where, as the transfer screen said: attended, the held party to the call
        # in the earpiece; blind, this call to the number keyed.
        peer, target = ((transfer.handed_over, self.m.peer or "") if transfer.handed_over
                        else (self.m.peer or "", transfer.target or ""))
        transfer.notice = TransferNotice(peer, target, failure_text(event.detail),
                                         self.m.now + NOTICE_SECONDS)
        commands = self.back_to_call()
        return [ev.PlayTone("error"), *commands]

    def away(self, event: ev.TransferStarted) -> Commands:
        # We are the transferee: keep what the person saw of the call set aside.
        saved = SetAsideCall(peer=self.m.peer, answered_at=self.m.answered_at, held=self.m.held,
                             security=replace(self.m.call_security))
        self.m.reset_call()
        self.m.transfer.put_aside(saved)
        self.m.peer = event.target
        self.m.state = CallState.CALLING
        return [ev.PlayTone(None),
                self.m.show(CallingScreen(peer=event.target, progress="Transferring…"))]

    def fell_through(self, event: ev.TransferAborted) -> Commands:
        saved = self.m.transfer.set_aside
        if saved is None:
            self.m.ignored += 1
            return []
        self.m.reset_call()
        self.m.transfer.record_failure(event.detail)
        self.m.peer, self.m.answered_at, self.m.held = saved.peer, saved.answered_at, saved.held
        self.m.call_security = replace(saved.security)
        self.m.state = CallState.IN_CALL
        self.m.set_timer("refresh", self.m.now + 1.0)
        return [ev.PlayTone("error"), *self.m.refresh_call_screen()]
