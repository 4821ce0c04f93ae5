"""Contacts: the file format (errors name the line and the field), who a caller is (file, then
LAN, then the From header), and the verified / warning marks on the ringing screen."""

from __future__ import annotations

from deskphone.phone import events as ev
from deskphone.phone.contacts import ContactBook, LanPeer, parse_contacts, uri_parts
from deskphone.phone.machine import MachineSettings, PhoneMachine
from deskphone.phone.screens import RingingScreen

BOB = LanPeer("202", "Bob (LAN)", "10.0.0.8", 5071, verified=True)


def test_contacts_file_keeps_good_lines_and_names_line_and_field() -> None:
    text = "\n".join(["# comment", "Alice Martin = 201", "no equals sign", " = 203",
                      "Eve = call me", "Desk = sip:desk@pbx.example.org", "x" * 600,
                      "", "Tel = tel:+441234"])
    contacts, errors = parse_contacts(text, "contacts.txt")
    assert [(c.name, c.target) for c in contacts] == [
        ("Alice Martin", "201"), ("Desk", "sip:desk@pbx.example.org"), ("Tel", "tel:+441234")]
    assert errors[0] == "contacts.txt line 3: expected NAME = TARGET (e.g. Alice Martin = 201)"
    assert errors[1].startswith("contacts.txt line 4: field 'name'")
    assert errors[2].startswith("contacts.txt line 5: field 'target' is 'call me'")
    assert errors[3].startswith("contacts.txt line 7: 600 characters")


def test_uri_parts() -> None:
    assert uri_parts("sip:ext202@10.0.0.8:5071;transport=udp") == ("ext202", "10.0.0.8", 5071)
    assert uri_parts("<sips:bob@[::1]>") == ("bob", "[::1]", None)


def test_the_file_name_wins_over_the_lan_name_and_keeps_the_lan_mark() -> None:
    contacts, _ = parse_contacts("Bobby = 202\nAlice = 201", "c")
    book = ContactBook(contacts, [BOB])
    found = book.lookup("sip:ext202@10.0.0.8:5071")
    assert found is not None and (found.name, found.mark) == ("Bobby", "verified")
    only_lan = ContactBook((), [BOB]).lookup("sip:ext202@10.0.0.8:5071")
    assert only_lan is not None and (only_lan.name, only_lan.source) == ("Bob (LAN)", "lan")
    assert book.lookup("sip:201@pbx") is not None  # by the user part of an account call
    assert book.lookup("sip:999@elsewhere") is None
    assert [(c.name, c.mark) for c in book.listing()] == [("Bobby", "verified"), ("Alice", "")]


def test_a_changed_zid_or_a_mismatch_in_the_history_is_a_warning() -> None:
    changed = LanPeer("202", "Bob", "10.0.0.8", 5071, verified=True, zid_changed=True)
    found = ContactBook((), [changed]).lookup("sip:ext202@10.0.0.8:5071")
    assert found is not None and found.mark == "warning"
    book = ContactBook(parse_contacts("Carol = 303", "c")[0], (), mismatched=["303"])
    carol = book.lookup("sip:303@pbx")
    assert carol is not None and carol.mark == "warning"


def test_ringing_screen_shows_the_contact_name_and_mark() -> None:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    book = ContactBook(parse_contacts("Bobby = 202", "c")[0], [BOB])
    m.handle(ev.ContactsChanged(book), 0.0)
    m.handle(ev.CallArrived("c1", "sip:ext202@10.0.0.8:5071", "\u202eI am your bank"), 1.0)
    assert m.screen == RingingScreen("sip:ext202@10.0.0.8:5071", "Bobby", "verified")
    assert m.peer == "Bobby"
    m.handle(ev.CallFinished("cancelled"), 2.0)
    m.handle(ev.CallArrived("c2", "sip:stranger@10.9.9.9", "\u202eI am your bank"), 3.0)
    assert m.screen == RingingScreen("sip:stranger@10.9.9.9", "\u202eI am your bank", "")
    assert "\u202e" not in m.snapshot()["screen"]


def test_contacts_file_is_a_validated_path_relative_to_the_data_directory(tmp_path) -> None:
    from pathlib import Path

    import pytest

    from deskphone.config import ConfigError, config_from_dict
    from deskphone.phone_files import contacts_path

    assert config_from_dict({}).phone.contacts_file is None
    assert contacts_path(None, tmp_path) == tmp_path / "contacts.txt"  # where it always was
    configured = config_from_dict({"phone": {"contacts_file": "office.txt"}}).phone.contacts_file
    assert contacts_path(configured, tmp_path) == tmp_path / "office.txt"
    assert contacts_path(Path("/etc/deskphone/c.txt"), tmp_path) == Path("/etc/deskphone/c.txt")
    for bad in ("", "dir/", 5, "a\x1bb"):
        with pytest.raises(ConfigError, match="phone.contacts_file"):
            config_from_dict({"phone": {"contacts_file": bad}})
