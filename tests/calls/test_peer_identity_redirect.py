"""A forwarding 302 from the dialled LAN phone moves the ZID expectation to the phone it names,
and only then (calls/peer_identity.py)."""

from __future__ import annotations

from types import SimpleNamespace

from deskphone.calls.peer_identity import LanExpectation, expectation_after_redirect


class Directory:
    def __init__(self, *peers: SimpleNamespace) -> None:
        self._peers = list(peers)

    def peers(self) -> list[SimpleNamespace]:
        return self._peers


def test_a_redirect_to_a_lan_phone_expects_that_phones_zid_and_nothing_else_moves_it() -> None:
    bob = LanExpectation("b" * 24, False)
    carol = SimpleNamespace(host="10.0.0.9", port=5071, zid="C" * 24, zid_changed=False)
    lan = Directory(carol)
    moved = expectation_after_redirect(lan, bob, ("sip:205@10.0.0.9:5071",))  # type: ignore[arg-type]
    assert moved == LanExpectation("c" * 24, False)
    assert expectation_after_redirect(lan, bob, ("sip:x@10.6.6.6:5071",)) == bob  # type: ignore[arg-type]
    assert expectation_after_redirect(lan, bob, ("sip:205@10.0.0.9:5071",  # type: ignore[arg-type]
                                                 "sip:x@10.6.6.6:5071")) == bob
    assert expectation_after_redirect(lan, None, ("sip:205@10.0.0.9:5071",)) is None  # type: ignore[arg-type]
