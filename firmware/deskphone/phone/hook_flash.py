"""The hook flash (R) and the digit after it: several calls from a 4x3 keypad (issue 15 item 5).

A 4x3 keypad has no letter keys, so swap and transfer need another way. Analog and ISDN phones
have one: a short press of the cradle switch, the register recall "R", followed by a digit, as in
ETSI's supplementary-service codes — R2 holds this call and takes the other (answer the waiting
call, or swap to the held one), R4 hands the held call over to the one in the earpiece
(explicit call transfer; here the attended transfer of RFC 5589 §7), R3 mixes both into a 3-way
conference (as '#' does). The same works on a 4x4.

Only while another call exists (waiting or held): then putting the handset down does not hang up
at once; coming back up within FLASH_SECONDS is the flash, staying down is the hang-up, as
before, FLASH_SECONDS later. With one call a flash has nothing to act on, so the handset going
down hangs up at once as it always did.

`HookFlash` is owned by the machine (`machine.flash`); its handlers are rows `flash.NAME` of the
table and it reaches the machine only through `CallHost` (call_host.py), and the swap and
transfer through the machine's `several` part (given to it), the handlers the D and A keys use.
"""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.call_host import CallHost
from deskphone.phone.several_calls import SeveralCalls

Commands = list[ev.Command]

# A break shorter than this is a flash, longer a hang-up: 600 ms is the top of the usual
# timed-break recall window (about 80-600 ms), above the hook switch's 40 ms debounce.
FLASH_SECONDS = 0.6
SWAP_CODE = "2"  # R2: hold this call, take the other (answer the waiting one, or swap)
TRANSFER_CODE = "4"  # R4: the held call goes to the call in the earpiece (attended transfer)
CONFERENCE_CODE = "3"  # R3: the held call joins the one in the earpiece (a 3-way conference)


class HookFlash:
    def __init__(self, machine: CallHost, several: SeveralCalls) -> None:
        self.m = machine
        self.several = several  # the swap and transfer handlers the D and A keys use too
        self.down = False  # the handset went down with another call: flash or hang-up?
        self.recall = False  # flashed: the next key is an R code

    def clear(self) -> None:
        self.down, self.recall = False, False

    def hook_on(self, event: ev.HookOn) -> Commands:
        if not self.m.others:  # nothing to flash for: hang up now, as with one call
            return self.m.hang_up_now()
        self.down, self.recall = True, False
        self.m.set_timer("flash", self.m.now + FLASH_SECONDS)
        return []

    def hook_off(self, event: ev.HookOff) -> Commands:
        if not self.down:
            self.m.ignored += 1
            return []
        self.down, self.recall = False, True
        self.m.set_timer("recall", self.m.now + self.m.settings.interdigit_timeout)
        return [ev.PlayTone("recall")]

    def timer(self, kind: str) -> Commands:
        """The flash window closed with the handset down (a hang-up), or no R code came."""
        if kind == "flash" and self.down:
            self.clear()
            return self.m.hang_up_now()
        if kind == "recall" and self.recall:
            self.recall = False
            self.m.set_timer("refresh", self.m.now + 1.0)
            return [ev.PlayTone(None)]
        return []

    def code(self, event: ev.KeyPressed) -> Commands:
        """The key after a flash: R2 swaps, R4 transfers the held call; anything else errs."""
        self.recall = False
        self.m.set_timer("refresh", self.m.now + 1.0)
        quiet: Commands = [ev.PlayTone(None)]
        held = self.m.others.held()
        if event.key == SWAP_CODE:
            return [*quiet, *self.several.swap(event)]
        if event.key == CONFERENCE_CODE and held is not None:
            return [*quiet, *self.several.conference(event)]
        if event.key == TRANSFER_CODE and held is not None:
            return [*quiet, *self.several.transfer_attended(
                ev.AttendedTransferRequested(held.call_id))]
        return [ev.PlayTone("error")]
