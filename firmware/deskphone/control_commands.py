"""The control socket's commands (`deskphone ctl ...`): one small function each.

Each command checks its arguments, turns them into an event for the phone (the same events the
keypad and hook produce) and answers with the phone's state. They see the app only through
`ControlledPhone`, the few things a command needs, so this module sits below the app and the app
dispatches to `CONTROL_COMMANDS` (the socket itself is deskphone.control).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from deskphone.config import FORWARD_MODES, FORWARD_TARGET
from deskphone.control import ControlError, help_text
from deskphone.devices.build import Devices
from deskphone.phone import events as ev
from deskphone.phone.machine import PhoneMachine
from deskphone.phone_files import MAX_VOLUME, VOLUMES, HistoryKeeper, VolumeKeeper

VALID_KEYS = frozenset("0123456789*#ABCD")


class ControlledPhone(Protocol):
    """What a control command needs from the running phone (deskphone.app.PhoneApp)."""

    machine: PhoneMachine
    devices: Devices
    history: HistoryKeeper

    @property
    def volume(self) -> VolumeKeeper: ...

    def contacts_event(self) -> ev.ContactsChanged: ...
    def change_volume(self, which: str, how: str) -> None: ...

    def post(self, event: ev.Event) -> None: ...
    def state(self) -> dict[str, Any]: ...
    async def wait_for(self, conditions: dict[str, str], timeout: float) -> dict[str, Any]: ...
    def request_stop(self) -> None: ...


ControlCommand = Callable[[ControlledPhone, list[str]], Awaitable[Any]]


def _expect(args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise ControlError(f"usage: {usage}")


async def _cmd_hook(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "hook off|on")
    if args[0] not in ("off", "on"):
        raise ControlError(f"hook: got {args[0]!r}, expected 'off' (lift) or 'on' (put down)")
    off_hook = args[0] == "off"
    sim = app.devices.sim_hook
    if sim is not None and app.devices.hook is not None:
        # Drive the simulated cradle contact: the real debounced hook path sees the change.
        sim.set_off_hook(off_hook)
        await app.wait_for({"off_hook": str(off_hook).lower()}, 2.0)
    else:
        app.post(ev.HookOff() if off_hook else ev.HookOn())
    return app.state()


async def _cmd_press(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "press KEYS   (e.g. press 201#)")
    keys = args[0]
    bad = [k for k in keys if k not in VALID_KEYS]
    if bad or not keys:
        raise ControlError(f"press: got {keys!r}, expected keys from 0-9 * # A-D")
    for key in keys:
        app.post(ev.KeyPressed(key))
    return app.state()


async def _cmd_dial(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "dial TARGET   (a number or a sip: URI)")
    target = args[0]
    if not (target.isdigit() or target.startswith(("sip:", "sips:", "tel:"))) or len(target) > 256:
        raise ControlError(f"dial: got {target!r}, expected digits or a sip:/sips:/tel: URI")
    app.post(ev.DialRequested(target))
    return app.state()


async def _cmd_transfer(app: ControlledPhone, args: list[str]) -> Any:
    if args[:1] == ["--attended"]:
        return await _transfer_attended(app, args[1:])
    _expect(args, 1, "transfer TARGET | transfer --attended ID   (blind: a number or sip: URI;"
                     " attended: the held call ID goes to the call in the earpiece)")
    target = args[0]
    if not (target.isdigit() or target.startswith(("sip:", "sips:", "tel:"))) or len(target) > 256:
        raise ControlError(f"transfer: got {target!r}, expected digits or a sip:/sips:/tel: URI")
    if app.machine.state.value not in ("in_call", "transfer_dialing"):
        raise ControlError(f"transfer: the phone is {app.machine.state.value}, expected in_call")
    app.post(ev.TransferDialed(target))
    return app.state()


async def _cmd_answer(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "answer ID   (a call id from `calls`)")
    known = [str(c["id"]) for c in app.machine.calls()]
    if args[0] not in known:
        raise ControlError(f"answer: no call {args[0]!r}; calls: {', '.join(known) or 'none'}")
    app.post(ev.AnswerRequested(args[0]))
    return app.state()


async def _cmd_swap(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "swap   (hold this call, resume the held or waiting one)")
    if not app.machine.others:
        raise ControlError("swap: there is no other call (none held or waiting)")
    app.post(ev.SwapRequested())
    return app.state()


async def _cmd_conference(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "conference   (mix the call in the earpiece and the held one, as #)")
    if app.machine.state.value != "in_call" or app.machine.others.held() is None:
        raise ControlError(f"conference: needs a call in the earpiece and one on hold; the "
                           f"phone is {app.machine.state.value} with "
                           f"{app.machine.snapshot()['held_calls']} held")
    app.post(ev.ConferenceRequested())
    return app.state()


async def _cmd_calls(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "calls")
    return app.machine.calls()


async def _transfer_attended(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "transfer --attended ID   (a held call's id from `calls`)")
    held = [str(c["id"]) for c in app.machine.calls() if c["state"] == "held"]
    if args[0] not in held or app.machine.state.value != "in_call":
        raise ControlError(f"transfer --attended: {args[0]!r} is no held call beside the call "
                           f"in the earpiece; held: {', '.join(held) or 'none'}")
    app.post(ev.AttendedTransferRequested(args[0]))
    return app.state()


async def _cmd_hangup(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "hangup")
    app.post(ev.HookOn())
    return app.state()


def _sas_command(name: str, event: ev.Event) -> ControlCommand:
    async def command(app: ControlledPhone, args: list[str]) -> Any:
        _expect(args, 0, name)
        if app.machine.sas is None:
            raise ControlError(f"{name}: no SAS to compare (the call is not secured)")
        app.post(event)
        return app.state()

    return command


_cmd_confirm = _sas_command("confirm-sas", ev.SasConfirmed())
_cmd_reject = _sas_command("reject-sas", ev.SasRejected())


async def _cmd_reverify(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "reverify   (forget this peer's SAS verification; compare again)")
    if app.machine.security.value != "verified":
        raise ControlError("reverify: the call is not verified")
    app.post(ev.ReverifyRequested())
    return app.state()


async def _cmd_stats(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "stats   (toggles the call-quality screen)")
    app.post(ev.StatsToggled())
    return app.state()


async def _cmd_hold(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "hold   (toggles hold/resume)")
    app.post(ev.HoldToggled())
    return app.state()


async def _cmd_screenshot(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "screenshot FILE.png")
    path = Path(args[0])
    if path.suffix.lower() != ".png":
        raise ControlError(f"screenshot: got {args[0]!r}, expected a path ending in .png")
    if not path.parent.is_dir():
        raise ControlError(f"screenshot: folder {path.parent} does not exist")
    image = app.machine.screen.render()  # type: ignore[attr-defined]
    scale = 4  # a 128x64 panel is tiny on a monitor; nearest keeps the pixels crisp
    image.convert("L").resize((image.width * scale, image.height * scale), 0).save(path)
    return str(path)


async def _cmd_state(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "state")
    return app.state()


async def _cmd_wait(app: ControlledPhone, args: list[str]) -> Any:
    conditions: dict[str, str] = {}
    timeout = 10.0
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ControlError(f"wait: got {arg!r}, expected KEY=VALUE (e.g. call=in_call) or "
                               "timeout=SECONDS")
        if key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ControlError(f"wait: timeout={value!r}, expected seconds") from None
            if not 0 < timeout <= 600:
                raise ControlError(f"wait: timeout={value}, expected 0 < seconds <= 600")
        else:
            conditions[key] = value
    if not conditions:
        raise ControlError("usage: wait KEY=VALUE... [timeout=SECONDS]")
    return await app.wait_for(conditions, timeout)


async def _cmd_history(app: ControlledPhone, args: list[str]) -> Any:
    usage = "history [call N]   (the call history, newest first; call N calls entry N back)"
    if not args:
        return app.history.listing()
    if len(args) != 2 or args[0] != "call":
        raise ControlError(f"usage: {usage}")
    entries = app.history.history.newest_first()
    if not args[1].isdigit() or not 1 <= int(args[1]) <= len(entries):
        raise ControlError(f"history call: got {args[1]!r}, expected an entry number 1 to "
                           f"{len(entries)}" if entries else "history call: the history is empty")
    app.post(ev.DialRequested(entries[int(args[1]) - 1].peer))
    return app.state()


async def _cmd_contacts(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "contacts   (the contacts file's and the LAN's, with verified/warning marks)")
    return [{"name": c.name, "target": c.target, "source": c.source, "mark": c.mark or None}
            for c in app.contacts_event().book.listing()]


async def _cmd_dnd(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 1, "dnd on|off   (do not disturb: turn callers away, noted as missed)")
    if args[0] not in ("on", "off"):
        raise ControlError(f"dnd: got {args[0]!r}, expected 'on' or 'off'")
    app.post(ev.DndSet(args[0] == "on"))
    return app.state()


async def _cmd_mute(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "mute   (toggles the microphone in a call; the far end hears silence)")
    if app.machine.state.value != "in_call":
        raise ControlError(f"mute: the phone is {app.machine.state.value}, expected in_call")
    app.post(ev.MuteToggled())
    return app.state()


async def _cmd_forward(app: ControlledPhone, args: list[str]) -> Any:
    usage = ("forward [off | always TARGET | busy TARGET | no_answer TARGET [SECONDS]]   "
             "(by 302; TARGET is routed by the dial plan)")
    if not args:
        return app.machine.snapshot()["forward"]
    mode, rest = args[0], args[1:]
    if mode == "off" and not rest:
        app.post(ev.ForwardSet("off"))
        return app.machine.snapshot()["forward"]
    if mode not in FORWARD_MODES or mode == "off" or not 1 <= len(rest) <= (
            2 if mode == "no_answer" else 1):
        raise ControlError(f"usage: {usage}")
    if not re.fullmatch(FORWARD_TARGET, rest[0]):
        raise ControlError(f"forward {mode}: got {rest[0]!r}, expected keypad keys 0-9 * # + "
                           "or a sip: URI")
    after = 20.0
    if len(rest) == 2:
        if not (rest[1].isdigit() and 1 <= int(rest[1]) <= 600):
            raise ControlError(f"forward no_answer: got {rest[1]!r} seconds, expected 1 to 600")
        after = float(rest[1])
    app.post(ev.ForwardSet(mode, rest[0], after))
    return app.machine.snapshot()["forward"]


async def _cmd_voicemail(app: ControlledPhone, args: list[str]) -> Any:
    usage = "voicemail [call]   (the lamp: waiting, new, old; call dials the voicemail number)"
    if args == ["call"]:
        number = app.machine.settings.voicemail
        if not number:
            raise ControlError("voicemail call: no account has a voicemail number "
                               "([[accounts]] voicemail)")
        app.post(ev.DialRequested(number))
        return app.state()
    if args:
        raise ControlError(f"usage: {usage}")
    return {**app.machine.idle.voicemail(), "number": app.machine.settings.voicemail or None}


async def _cmd_volume(app: ControlledPhone, args: list[str]) -> Any:
    usage = f"volume [earpiece|ringer up|down|0-{MAX_VOLUME}]   (remembered across restarts)"
    if args:
        if len(args) != 2 or args[0] not in VOLUMES:
            raise ControlError(f"usage: {usage}")
        how = args[1]
        if how not in ("up", "down") and not (how.isdigit() and 0 <= int(how) <= MAX_VOLUME):
            raise ControlError(f"volume {args[0]}: got {how!r}, expected up, down or a level "
                               f"0 to {MAX_VOLUME}")
        app.change_volume(args[0], how)
    return dict(app.volume.levels)


async def _cmd_redial(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "redial   (call the last number dialled again)")
    target = app.history.history.last_dialled()
    if target is None:
        raise ControlError("redial: nothing dialled yet (the call history has no outgoing call)")
    app.post(ev.DialRequested(target))
    return app.state()


async def _cmd_help(app: ControlledPhone, args: list[str]) -> Any:
    return help_text()  # the one table deskphone ctl help also prints, with no phone


async def _cmd_shutdown(app: ControlledPhone, args: list[str]) -> Any:
    _expect(args, 0, "shutdown")
    app.request_stop()
    return "shutting down"


CONTROL_COMMANDS: dict[str, ControlCommand] = {
    "hook": _cmd_hook,
    "press": _cmd_press,
    "dial": _cmd_dial,
    "hangup": _cmd_hangup,
    "transfer": _cmd_transfer,
    "answer": _cmd_answer,
    "swap": _cmd_swap,
    "calls": _cmd_calls,
    "conference": _cmd_conference,
    "hold": _cmd_hold,
    "stats": _cmd_stats,
    "reverify": _cmd_reverify,
    "confirm-sas": _cmd_confirm,
    "reject-sas": _cmd_reject,
    "history": _cmd_history,
    "redial": _cmd_redial,
    "contacts": _cmd_contacts,
    "dnd": _cmd_dnd,
    "mute": _cmd_mute,
    "volume": _cmd_volume,
    "forward": _cmd_forward,
    "voicemail": _cmd_voicemail,
    "screenshot": _cmd_screenshot,
    "state": _cmd_state,
    "wait": _cmd_wait,
    "help": _cmd_help,
    "shutdown": _cmd_shutdown,
}
