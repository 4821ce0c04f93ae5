"""Contacts between two real phone processes: the contacts file names the caller on the ringing
screen, LAN phones are contacts, a SAS verified on one call marks the peer verified for the next,
and a bad contacts file costs only its bad lines (named with file and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone_tools.harness import PhoneError, PhonePair


def test_contacts_name_the_caller_and_mark_verified_peers(tmp_path: Path) -> None:
    with PhonePair(tmp_path / "phones") as pair:
        a, b = pair.a, pair.b
        b.stop()
        contacts = b.workdir / "data" / "contacts.txt"
        contacts.write_text(f"# B's contacts\nAlice from file = {a.extension}\n"
                            "broken line\nEve = not a number\n")
        b.start()
        log = b.log_path.read_text(errors="replace")
        assert f"{contacts} line 3: expected NAME = TARGET" in log
        assert f"{contacts} line 4: field 'target' is 'not a number'" in log
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")

        listing = {c["target"]: c for c in b.ctl("contacts")}
        assert listing[a.extension]["name"] == "Alice from file"
        assert listing[a.extension]["source"] == "file" and listing[a.extension]["mark"] is None
        assert {c["target"]: c for c in a.ctl("contacts")}[b.extension]["source"] == "lan"

        # The file's name is on the ringing screen, not the From header's "Alice".
        a.ctl("dial", b.extension)
        assert "Alice from file" in b.wait(call="ringing")["screen"]
        b.ctl("hook", "off")
        a.wait(call="in_call", security="secure")
        b.wait(call="in_call", security="secure")
        a.ctl("confirm-sas")
        b.ctl("confirm-sas")
        a.wait(security="verified")
        b.wait(security="verified")
        b.ctl("hangup")
        a.wait(call="ended")
        a.ctl("hook", "on")
        a.wait(call="idle")
        b.wait(call="idle")
        assert b.ctl("history")["entries"][0]["security"] == "verified"

        # The ZRTP cache now holds A's ZID as verified: the contact carries the tick.
        assert {c["target"]: c for c in b.ctl("contacts")}[a.extension]["mark"] == "verified"
        assert {c["target"]: c for c in a.ctl("contacts")}[b.extension]["mark"] == "verified"


def test_a_speed_dial_names_a_contact_from_the_configured_contacts_file(tmp_path: Path) -> None:
    from deskphone_tools.harness import unique_extensions

    ext_a, ext_b = unique_extensions(2)
    contacts = tmp_path / "shared" / "office-contacts.txt"  # [phone] contacts_file
    contacts.parent.mkdir()
    contacts.write_text(f"Bob at the desk = {ext_b}\n")
    extra = (f'[phone]\ncontacts_file = "{contacts}"\n'
             '[dialplan.speed_dial]\n"5" = "Bob at the desk"\n')
    with PhonePair(tmp_path / "phones", extra_a=extra, extensions=(ext_a, ext_b)) as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        assert {c["target"]: c["name"] for c in a.ctl("contacts")}[ext_b] == "Bob at the desk"
        a.ctl("dial", "5")
        b.wait(call="ringing")
        a.ctl("hangup")
        b.wait(call="idle")
        a.stop()
        contacts.write_text("Somebody else = 299\n")  # the speed dial's name is gone
        with pytest.raises(PhoneError, match="exited with 2"):  # a start error, not a crash
            a.start()
        log = a.log_path.read_text(errors="replace")
        assert f"speed dial '5': 'Bob at the desk' is no sip: URI, no number and no " \
               f"contact's name in {contacts}" in log
