"""INVITE with Replaces (RFC 3891) against a whole phone process: SIPp as the caller whose dialog
is named, and a second SIPp sending the INVITE with Replaces (issue 15 item 6, bad input).

RFC 3891 §3 for the UAS of such an INVITE: no dialog matching the Call-ID, to-tag (ours) and
from-tag (the peer's) is 481; an early dialog it did not initiate — here a call ringing at the
phone, whose dialog SIPp started — is 481 too (only the UA that sent an early dialog's INVITE
may see it replaced); a confirmed dialog named with `early-only` is 486. A dialog that is not
the phone's (the Call-ID of its call but the tags as the *other* end keeps them, or another
party's from-tag) matches nothing: 481. The one that does match is answered in the old call's
place and the old call gets BYE: the positive control, so the refusals cannot be vacuous.

SIPp writes each datagram to its message log as it goes, so the test reads the first call's
Call-ID and tags from there (polling with a bound) and hands them to the second SIPp in an
injection file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.interop.kamailio import wait_until
from tests.interop_sipp.conftest import SippBench
from tests.interop_sipp.sipp import OWN_SCENARIOS, Sipp, SippResult, parse_messages

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


Fields = tuple[str, str, str, str]  # the injection file: Call-ID, to-tag, from-tag, a flag


@dataclass(frozen=True)
class NamedDialog:
    """SIPp's call to the phone as the phone's side of it sees it (RFC 3891 §3)."""

    call_id: str
    phone_tag: str  # the phone's local tag: Replaces' to-tag
    sipp_tag: str  # SIPp's tag: Replaces' from-tag

    def replaces(self, to_tag: str | None = None, from_tag: str | None = None,
                 flag: str = "x-case=plain") -> Fields:
        """Call-ID, to-tag, from-tag and one more parameter: the injection file's fields."""
        to_tag = self.phone_tag if to_tag is None else to_tag
        from_tag = self.sipp_tag if from_tag is None else from_tag
        return self.call_id, to_tag, from_tag, flag


def dialog_of(run: Sipp, status: str, bound: float = 15.0) -> NamedDialog:
    """The dialog of `run`'s call once the phone's `status` response reached it."""
    log = run.workdir / "sipp-messages.log"
    found: list[NamedDialog] = []

    def reached() -> bool:
        wire = parse_messages(log.read_text(errors="replace")) if log.exists() else []
        for message in wire:
            if message.way == "received" and message.start_line.startswith(status):
                call_id = re.search(r"(?im)^call-id:\s*(\S+)", message.text)
                sipp_tag = re.search(r"(?im)^from:.*;\s*tag=([^;>\s]+)", message.text)
                assert call_id and sipp_tag and message.to_tag, message.text
                found.append(NamedDialog(call_id[1], message.to_tag, sipp_tag[1]))
                return True
        return False

    wait_until(reached, bound, f"SIPp to see {status!r} from the phone")
    return found[0]


def invite_with(bench: SippBench, replaces: Fields, scenario: str) -> Sipp:
    inject = bench.root / f"replaces{len(bench.sipps)}.csv"
    inject.write_text("SEQUENTIAL\n" + "".join(f"{field};" for field in replaces) + "\n")
    return bench.sipp(OWN_SCENARIOS / scenario, calls_phone=True, extra=("-inf", str(inject)))


def refused_with(bench: SippBench, replaces: Fields) -> tuple[int, SippResult]:
    """Send the INVITE with `replaces`; the final status it got (SIPp ACKed it)."""
    result = invite_with(bench, replaces, "uac_invite_replaces_refused.xml").finish()
    finals = [int(m.start_line.split()[1]) for m in result.wire if m.way == "received"
              and m.start_line.startswith("SIP/2.0 ") and m.cseq.endswith("INVITE")
              and not m.start_line.startswith("SIP/2.0 1")]
    assert result.returncode == 0 and finals, bench.context(result.summary())
    assert len(set(finals)) == 1, bench.context(result.summary())
    return finals[0], result


def end_call(bench: SippBench, caller: Sipp) -> SippResult:
    """The phone hangs up SIPp's call (BYE), which ends SIPp's scenario."""
    bench.phone.ctl("hook", "on")
    result = caller.finish()
    assert result.returncode == 0, bench.context(result.summary())
    return result


def test_replaces_naming_no_dialog_is_481_and_rings_nothing(bench: SippBench) -> None:
    status, _ = refused_with(bench, ("no-such-call@127.0.0.1", "abc", "def", "x-case=none"))
    state = bench.phone.state()
    assert status == 481, bench.context(state)
    assert state["call"] == "idle" and state["calls"] == [], bench.context(state)


def test_replaces_naming_an_early_dialog_the_phone_did_not_start_is_481(
        bench: SippBench) -> None:
    phone = bench.phone
    caller = bench.sipp(OWN_SCENARIOS / "uac_call_until_bye.xml", calls_phone=True)
    early = dialog_of(caller, "SIP/2.0 180")
    phone.wait(call="ringing")
    status, _ = refused_with(bench, early.replaces())
    ringing = phone.state()
    context = bench.context(ringing)
    assert status == 481, context  # RFC 3891 §3: not an early dialog we initiated
    assert ringing["call"] == "ringing" and len(ringing["calls"]) == 1, context  # untouched
    phone.ctl("hook", "off")  # the ringing call is still answerable
    phone.wait(call="in_call")
    result = end_call(bench, caller)
    assert result.count("received", "SIP/2.0 200", "INVITE") == 1, bench.context(result.summary())


def test_replaces_refusals_for_a_confirmed_dialog_then_the_match(bench: SippBench) -> None:
    phone = bench.phone
    caller = bench.sipp(OWN_SCENARIOS / "uac_call_until_bye.xml", calls_phone=True)
    phone.wait(call="ringing")
    phone.ctl("hook", "off")
    in_call = phone.wait(call="in_call")
    dialog = dialog_of(caller, "SIP/2.0 200")
    # early-only, and the dialog is confirmed: 486 (RFC 3891 §3)
    assert refused_with(bench, dialog.replaces(flag="early-only"))[0] == 486
    # the tags as SIPp's side keeps them: a dialog of the other end, not ours
    swapped = dialog.replaces(to_tag=dialog.sipp_tag, from_tag=dialog.phone_tag)
    assert refused_with(bench, swapped)[0] == 481
    # another party's leg: our Call-ID and tag, but not the peer we have that dialog with
    assert refused_with(bench, dialog.replaces(from_tag="someone-else"))[0] == 481
    state = phone.state()
    context = bench.context(state)
    assert state["call"] == "in_call" and state["call_id"] == in_call["call_id"], context
    assert len(state["calls"]) == 1, context  # no refused INVITE waits or rings

    # The dialog itself: answered at once in its place; the old call gets BYE.
    replacement = invite_with(bench, dialog.replaces(), "uac_invite_replaces_accepted.xml")
    replaced = caller.finish()
    context = bench.context(replaced.summary())
    assert replaced.returncode == 0 and replaced.step("BYE", "received").messages == 1, context
    now = phone.wait(call="in_call", peer="~transferee")
    assert now["call_id"] != in_call["call_id"] and len(now["calls"]) == 1, bench.context(now)
    result = end_call(bench, replacement)
    assert result.count("received", "SIP/2.0 200", "INVITE") == 1, bench.context(result.summary())



def test_a_refer_from_a_party_not_in_the_call_is_481_and_transfers_nothing(
        bench: SippBench) -> None:
    phone = bench.phone
    caller = bench.sipp(OWN_SCENARIOS / "uac_call_until_bye.xml", calls_phone=True)
    phone.wait(call="ringing")
    phone.ctl("hook", "off")
    in_call = phone.wait(call="in_call")
    dialog = dialog_of(caller, "SIP/2.0 200")
    inject = bench.root / "refer.csv"
    inject.write_text(f"SEQUENTIAL\n{dialog.call_id};{dialog.phone_tag};not-the-peer;\n")
    # SIPp matches responses by Call-ID: this run's messages carry field0's, so it takes the
    # Call-ID of the call it names for its own (-cid_str), or it could not see the 481.
    refer = bench.sipp(OWN_SCENARIOS / "uac_refer_outside_the_dialog.xml", calls_phone=True,
                       extra=("-inf", str(inject), "-cid_str", dialog.call_id)).finish()
    state = phone.state()
    context = bench.context(state, refer.summary())
    assert refer.returncode == 0 and refer.count("received", "SIP/2.0 481") == 1, context
    assert refer.count("received", "SIP/2.0 202") == 0, context
    assert state["call"] == "in_call" and state["call_id"] == in_call["call_id"], context
    assert state["transfer"] is None and len(state["calls"]) == 1, context
    result = end_call(bench, caller)
    assert result.count("received", "REFER") == 0, bench.context(result.summary())
