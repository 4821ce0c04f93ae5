"""The voicemail lamp in the phone machine: an envelope with the new messages on the idle
screen, summed over accounts; '*' on the idle screen calls the voicemail number."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine
from deskphone.phone.screens import IdleScreen


def test_the_lamp_shows_the_new_messages_of_all_accounts_and_goes_out() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", voicemail="*97"))
    m.start(0.0)
    m.handle(ev.VoicemailChanged("201@pbx", True, 2, 5), 1.0)
    m.handle(ev.VoicemailChanged("201@other", True, 1, 0), 1.1)
    assert isinstance(m.screen, IdleScreen) and m.screen.voicemail == 3
    assert m.snapshot()["voicemail"] == {"waiting": True, "new": 3, "old": 5}
    m.handle(ev.VoicemailChanged("201@pbx", False, 0, 7), 2.0)
    m.handle(ev.VoicemailChanged("201@other", False, 0, 1), 2.1)
    assert isinstance(m.screen, IdleScreen) and m.screen.voicemail is None


def test_star_on_the_idle_screen_calls_voicemail_and_only_when_there_is_a_number() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice", voicemail="*97"))
    m.start(0.0)
    out = m.handle(ev.KeyPressed("*"), 1.0)
    assert ev.PlaceCall("*97") in out and m.state is CallState.CALLING
    plain = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    plain.start(0.0)
    assert plain.handle(ev.KeyPressed("*"), 1.0) == [] and plain.state is CallState.IDLE
    plain.handle(ev.KeyPressed("#"), 2.0)  # with the history open '*' still closes it
    plain.handle(ev.KeyPressed("*"), 3.0)
    assert plain.idle.history.browser is None


def test_the_voicemail_number_is_a_validated_account_key() -> None:
    import pytest

    from deskphone.config import ConfigError, config_from_dict

    def account(**keys: object) -> dict:
        return {"accounts": [{"registrar": "127.0.0.1:5070", "user": "201", **keys}]}

    with_box = config_from_dict(account(voicemail="*97")).accounts[0]
    assert (with_box.voicemail, with_box.mwi) == ("*97", True)  # set: the lamp subscribes
    plain = config_from_dict(account()).accounts[0]
    assert (plain.voicemail, plain.mwi) == (None, False)
    assert config_from_dict(account(voicemail="*97", mwi=False)).accounts[0].mwi is False
    for bad in ("9 7", "", "http://x"):
        with pytest.raises(ConfigError, match=r"accounts\[0\].*voicemail|voicemail"):
            config_from_dict(account(voicemail=bad))
