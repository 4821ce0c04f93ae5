from __future__ import annotations

import pytest

from deskphone.devices.hook import HookSwitch

PIN = 17


def make_hook(factory, clock, polarity, events):
    return HookSwitch(PIN, polarity, 0.040, events.append, clock=clock, pin_factory=factory)


def test_normally_open_lift_and_hang_up(mock_factory, clock):
    events: list[bool] = []
    pin = mock_factory.pin(PIN)
    hook = make_hook(mock_factory, clock, "normally_open", events)
    assert hook.off_hook is False  # pull-up, contact open: on hook
    pin.drive_low()  # contact closes: handset lifted
    hook.poll(clock.advance(0.039))
    assert events == []
    hook.poll(clock.advance(0.001))
    assert events == [True] and hook.off_hook
    pin.drive_high()
    clock.advance(0.050)
    hook.poll(clock.now)
    assert events == [True, False]
    hook.close()


def test_normally_closed_polarity_is_inverted(mock_factory, clock):
    events: list[bool] = []
    pin = mock_factory.pin(PIN)
    hook = make_hook(mock_factory, clock, "normally_closed", events)
    assert hook.off_hook is True  # pull-up, contact open: lifted
    pin.drive_low()  # cradle presses the contact closed: hung up
    hook.poll(clock.advance(0.040))
    assert events == [False]
    pin.drive_high()
    hook.poll(clock.advance(0.040))
    assert events == [False, True]
    hook.close()


def test_edge_then_poll_on_the_timer_reports_once(mock_factory, clock):
    events: list[bool] = []
    pin = mock_factory.pin(PIN)
    hook = make_hook(mock_factory, clock, "normally_open", events)
    pin.drive_low()
    deadline = hook.get_timer()
    assert deadline is not None
    clock.now = deadline
    hook.poll(clock.now)
    hook.poll(clock.advance(1.0))
    assert events == [True]
    assert hook.get_timer() is None
    hook.close()


def test_bounce_train_gives_one_event(mock_factory, clock):
    events: list[bool] = []
    pin = mock_factory.pin(PIN)
    hook = make_hook(mock_factory, clock, "normally_open", events)
    for _ in range(8):  # edges 1 ms apart, delivered through gpiozero's callbacks
        pin.drive_low()
        clock.advance(0.001)
        pin.drive_high()
        clock.advance(0.001)
    pin.drive_low()
    assert hook.get_timer() == pytest.approx(clock.now + 0.040)
    hook.poll(clock.advance(0.020))
    assert events == []
    hook.poll(clock.advance(0.020))
    assert events == [True]
    assert hook.bounces >= 8
    hook.close()


def test_short_glitch_while_on_hook_is_ignored(mock_factory, clock):
    events: list[bool] = []
    pin = mock_factory.pin(PIN)
    hook = make_hook(mock_factory, clock, "normally_open", events)
    pin.drive_low()
    clock.advance(0.010)
    pin.drive_high()
    hook.poll(clock.advance(1.0))
    assert events == [] and hook.off_hook is False
    hook.close()


def test_unknown_polarity_is_refused(mock_factory, clock):
    with pytest.raises(ValueError, match="'normally_shut'"):
        HookSwitch(PIN, "normally_shut", 0.04, print, pin_factory=mock_factory)


@pytest.mark.parametrize("polarity", ["normally_open", "normally_closed"])
def test_sim_contact_drives_the_real_hook_path(mock_factory, clock, polarity):
    from deskphone.devices.hook_sim import SimHookContact

    events: list[bool] = []
    contact = SimHookContact(mock_factory, PIN, polarity)
    hook = HookSwitch(PIN, polarity, 0.040, pin_factory=mock_factory, clock=clock)
    hook.set_emit(events.append)
    contact.set_off_hook(False)
    hook.poll(clock.advance(0.1))
    events.clear()
    contact.set_off_hook(True)
    hook.poll(clock.advance(0.040))
    contact.set_off_hook(False)
    hook.poll(clock.advance(0.040))
    assert events == [True, False]
    hook.close()


@pytest.mark.parametrize("polarity", ["normally_open", "normally_closed"])
@pytest.mark.parametrize("off_hook", [False, True])
def test_sim_contact_state_survives_the_pull_up(mock_factory, clock, polarity, off_hook):
    from deskphone.devices.hook_sim import SimHookContact

    contact = SimHookContact(mock_factory, PIN, polarity)
    contact.set_off_hook(off_hook)  # set before the input device exists, as the builder does
    hook = HookSwitch(PIN, polarity, 0.040, pin_factory=mock_factory, clock=clock)
    assert hook.off_hook is off_hook
    hook.close()
