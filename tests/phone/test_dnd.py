"""Do not disturb: callers are turned away with the configured code and noted as missed."""

from __future__ import annotations

import pytest

from deskphone.config import ConfigError, config_from_dict
from deskphone.phone import events as ev
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine


def test_dnd_rejects_with_the_configured_code_records_a_missed_call_and_shows_dnd() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", dnd_code=603))
    m.start(0.0)
    m.handle(ev.DndSet(True), 0.0)
    assert m.snapshot()["screen"].startswith("DND") and m.snapshot()["dnd"] is True
    out = m.handle(ev.CallArrived("c1", "sip:202@h", "Bob"), 1.0)
    assert ev.RejectCall("c1", 603) in out and not [c for c in out if isinstance(c, ev.Ring)]
    assert [(c.direction, c.peer) for c in out if isinstance(c, ev.RecordCall)] == [
        ("missed", "sip:202@h")]
    assert m.state is CallState.IDLE
    m.handle(ev.DndSet(False), 2.0)
    m.handle(ev.CallArrived("c2", "sip:202@h", "Bob"), 3.0)
    assert m.state is CallState.RINGING


def test_dnd_code_is_validated_with_the_key_named() -> None:
    assert config_from_dict({"phone": {"dnd_code": 480}}).phone.dnd_code == 480
    assert config_from_dict({}).phone.dnd_code == 486
    with pytest.raises(ConfigError, match="phone.dnd_code"):
        config_from_dict({"phone": {"dnd_code": 200}})
    with pytest.raises(ConfigError, match="did you mean 'dnd_code'"):
        config_from_dict({"phone": {"dnd_cod": 486}})


def test_mute_toggles_in_a_call_shows_muted_and_ends_with_the_call() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    m.handle(ev.DialRequested("202"), 0.0)
    assert m.handle(ev.MuteToggled(), 0.5) == []  # not in a call yet: ignored
    m.handle(ev.CallConnected(), 1.0)
    out = m.handle(ev.KeyPressed("D"), 2.0)
    assert ev.SetMute(True) in out and not [c for c in out if isinstance(c, ev.SendDtmf)]
    assert "MUTED" in m.snapshot()["screen"] and m.snapshot()["muted"] is True
    assert ev.SetMute(False) in m.handle(ev.MuteToggled(), 3.0)
    m.handle(ev.MuteToggled(), 4.0)
    assert ev.SetMute(False) in m.handle(ev.HookOn(), 5.0)  # hanging up gives the mic back
    assert m.muted is False


def test_the_idle_screen_shows_the_time_and_hides_it_when_the_clock_is_unset() -> None:
    from deskphone.wall_clock import clock_text

    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    m.handle(ev.ClockChanged("14:05", "Thu 3 Dec"), 0.0)
    assert "14:05" in m.snapshot()["screen"] and "Thu 3 Dec" in m.snapshot()["screen"]
    m.handle(ev.ClockChanged(None, None), 1.0)
    assert ":" not in m.snapshot()["screen"] and "Dec" not in m.snapshot()["screen"]
    assert clock_text(1_764_690_000.0, known=False) is None
    text = clock_text(1_764_690_000.0)
    assert text is not None and len(text) == 5 and text[2] == ":"


def test_the_clock_is_unset_only_when_timesyncd_has_not_set_it_and_it_predates_the_release(
        tmp_path) -> None:
    from deskphone.wall_clock import RELEASE_DATE, clock_known, date_text

    flag = tmp_path / "synchronized"  # /run/systemd/timesync/synchronized
    assert not clock_known(0.0, flag)  # 1970, timesyncd silent: a Pi just booted
    assert not clock_known(RELEASE_DATE - 1, flag)  # fake-hwclock's stale time
    assert clock_known(RELEASE_DATE + 86400, flag)  # later than the release: believable
    flag.touch()
    assert clock_known(0.0, flag)  # timesyncd says it is right, however odd it reads
    assert date_text(0.0, known=False) is None
    day = date_text(RELEASE_DATE + 12 * 3600)
    assert day is not None and day.split()[1].isdigit() and len(day.split()) == 3


def test_the_date_gives_way_to_the_missed_count_on_the_idle_screen() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    m.handle(ev.ClockChanged("14:05", "Thu 3 Dec"), 0.0)
    m.handle(ev.HistoryChanged((), 2, None), 1.0)
    assert "2 missed" in m.snapshot()["screen"] and "Dec" not in m.snapshot()["screen"]
