"""deskphone.calls.accounts with a real (sans-IO) user agent, fake registrars and a fake clock: the
fail-over policy's decisions reach the wire, the statuses a person sees, the retry hand-over;
and the [[accounts]] fail-over keys in the configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from deskphone.calls.accounts import AccountManager
from deskphone.config import AccountConfig, ConfigError, config_from_dict
from deskphone.sip import events as sev
from deskphone.sip.message import SipRequest, SipResponse, parse_message
from deskphone.sip.registration import Account
from deskphone.sip.useragent import UaConfig, UserAgent

PRIMARY, BACKUP = "127.0.0.1:5601", "127.0.0.1:5602"
ADDRS = {("127.0.0.1", 5601): PRIMARY, ("127.0.0.1", 5602): BACKUP}


@dataclass
class Timer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Rig:
    """One phone: UA + AccountManager; registrars answer 200 unless listed in `dead`/`reply`."""

    now: float = 0.0
    dead: set[str] = field(default_factory=set)
    reply: dict[str, int] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    wire: list[tuple[str, SipRequest]] = field(default_factory=list)
    queue: list[sev.Event] = field(default_factory=list)  # SipEndpoint.events, in effect

    def __post_init__(self) -> None:
        config = AccountConfig(name="office", registrars=(PRIMARY, BACKUP), user="alice",
                               password="alicepw", expires=60, failover_probe_seconds=30.0,
                               failover_timeout_seconds=2.0)
        account = Account(registrar=PRIMARY, user="alice", password="alicepw", expires=60,
                          register_timeout=2.0)
        self.ua = UserAgent(UaConfig(user="alice", display_name="Alice", local_host="127.0.0.1",
                                     local_port=5070, accounts=(account,)))
        self.manager = AccountManager(
            (config,), {"office": account.name}, self.ua, self.command, lambda: self.now,
            self.schedule, self.statuses.append, random=lambda: 0.0)

    def command(self, method: Callable[..., object], *args: object, **kwargs: object) -> object:
        result = method(*args, now=self.now, **kwargs)
        self.pump()
        return result

    def schedule(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        self.timers.append(timer)
        return timer

    def pump(self) -> None:
        for data, addr in self.ua.datagrams_to_send(self.now):
            request = parse_message(data)
            assert isinstance(request, SipRequest)
            registrar = ADDRS[addr]
            self.wire.append((registrar, request))
            if registrar in self.dead:
                continue
            status = self.reply.get(registrar, 200)
            response = SipResponse(status=status, reason="R")
            for value in request.headers.raw("Via"):
                response.headers.add("Via", value)
            for name in ("From", "To", "Call-ID", "CSeq"):
                response.headers.add(name, request.headers.get(name) or "")
            if status == 200 and request.method == "REGISTER":
                response.headers.add("Contact", f"{request.headers.get('Contact')};expires="
                                                f"{request.headers.get('Expires')}")
            self.ua.receive_datagram(response.serialize(), addr, self.now)
        while (event := self.ua.next_event()) is not None:
            self.queue.append(event)

    def drain(self) -> None:
        """Hand the UA's events to the manager after the command that caused them returned,
        as the phone's event task does."""
        while self.queue:
            event = self.queue.pop(0)
            if isinstance(event, sev.RegistrationState):
                self.manager.on_registration(event)
            elif isinstance(event, sev.ProbeResult):
                self.manager.on_probe_result(event)

    def start(self) -> None:
        self.manager.start()
        self.drain()

    def advance_to(self, until: float) -> None:
        """Run the UA's and the manager's timers in order up to `until`."""
        while True:
            live = [t for t in self.timers if not t.cancelled]
            ua_at = self.ua.get_timer()
            nxt = min([t.when for t in live] + ([ua_at] if ua_at is not None else []),
                      default=None)
            if nxt is None or nxt > until:
                self.now = until
                return
            self.now = max(self.now, nxt)
            for timer in live:
                if timer.when <= self.now:
                    timer.cancelled = True
                    timer.callback()
            if ua_at is not None and ua_at <= self.now:
                self.ua.handle_timer(self.now)
            self.pump()
            self.drain()

    def registers_to(self, registrar: str) -> list[SipRequest]:
        return [r for where, r in self.wire if where == registrar and r.method == "REGISTER"]


def test_fails_over_on_silence_then_falls_back_when_the_primary_answers_its_probe() -> None:
    rig = Rig()
    rig.start()
    assert rig.statuses == ["registered"]  # "registering" is the phone's starting status
    rig.dead.add(PRIMARY)
    rig.advance_to(40.0)  # refresh at 30 s, unanswered for 2 s: fail over
    office = rig.manager.info()["office"]
    assert office["registrar"] == BACKUP and office["status"] == "on backup"
    assert rig.statuses == ["registered", "registering", "on backup"]
    assert [r.headers.get("To") for r in rig.registers_to(BACKUP)] == [f"<sip:alice@{PRIMARY}>"]
    probes_before = len([r for _, r in rig.wire if r.method == "OPTIONS"])
    rig.advance_to(70.0)  # probes every 30 s + their 2 s timeouts, the primary still silent
    assert len([r for _, r in rig.wire if r.method == "OPTIONS"]) > probes_before
    assert rig.manager.info()["office"]["registrar"] == BACKUP
    rig.dead.clear()
    rig.advance_to(110.0)
    office = rig.manager.info()["office"]
    assert office["registrar"] == PRIMARY and office["status"] == "registered"
    assert rig.statuses[-1] == "registered" and "registering" not in rig.statuses[3:]
    leave = [r for r in rig.registers_to(BACKUP) if r.headers.get("Expires") == "0"]
    assert len(leave) == 1  # the binding left on the backup is removed (§10.2.2)
    fresh = [r for r in rig.registers_to(PRIMARY) if r.headers.get("Expires") != "0"][-1]
    assert leave[0].cseq.number < fresh.cseq.number


def test_wrong_credentials_do_not_fail_over() -> None:
    rig = Rig(reply={PRIMARY: 403})
    rig.start()
    assert rig.statuses == ["reg failed"]
    assert rig.registers_to(BACKUP) == []  # every registrar would say the same
    registration = next(iter(rig.ua.registrations.values()))
    assert registration.refresh_at is not None  # the UA's own slow retry stays armed


def test_every_registrar_down_backs_off_then_starts_again_at_the_primary() -> None:
    rig = Rig(dead={PRIMARY, BACKUP})
    rig.start()
    rig.advance_to(5.0)  # 2 s on each: both silent
    assert rig.statuses[-1] == "reg failed"
    registration = next(iter(rig.ua.registrations.values()))
    assert registration.refresh_at is None  # the policy's back-off owns the next attempt
    sent = len(rig.registers_to(PRIMARY))
    rig.dead.clear()
    rig.advance_to(20.0)  # RFC 5626 §4.5 back-off: 30 s * (0.5 + 0.5 * random()=0) = 15 s
    assert len(rig.registers_to(PRIMARY)) > sent
    assert rig.manager.info()["office"]["status"] == "registered"


def test_unknown_account_events_are_counted_not_fatal() -> None:
    rig = Rig()
    rig.manager.on_registration(sev.RegistrationState("mallory@x", "registered", 60, "OK"))
    rig.manager.on_probe_result(sev.ProbeResult("nope", PRIMARY, 200))
    assert rig.manager.stats["unknown_events"] == 2


def _account(**extra: object) -> dict[str, object]:
    return {"accounts": [{"user": "alice", "registrars": [PRIMARY, BACKUP], **extra}]}


def test_config_failover_keys() -> None:
    account = config_from_dict(_account(failover_probe_seconds=5, failover_timeout_seconds=1.5,
                                        expires=10), sim=True).accounts[0]
    assert (account.failover_probe_seconds, account.failover_timeout_seconds) == (5.0, 1.5)
    assert account.expires == 10
    defaults = config_from_dict(_account(), sim=True).accounts[0]
    assert (defaults.failover_probe_seconds, defaults.failover_timeout_seconds) == (120.0, 8.0)


@pytest.mark.parametrize(("extra", "key"), [
    ({"failover_probe_seconds": 0}, "accounts[0].failover_probe_seconds"),
    ({"failover_probe_seconds": "1m"}, "accounts[0].failover_probe_seconds"),
    ({"failover_timeout_seconds": 40}, "accounts[0].failover_timeout_seconds"),
    ({"failover_timeout_seconds": True}, "accounts[0].failover_timeout_seconds"),
    ({"expires": 9}, "accounts[0].expires"),
    ({"registrars": [PRIMARY, PRIMARY]}, "accounts[0].registrars"),
])
def test_config_rejects_bad_failover_values(extra: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict(_account(**extra), sim=True)
    assert error.value.key == key and "expected" in str(error.value)


def test_link_back_retries_a_failed_account_at_once_and_leaves_a_registered_one() -> None:
    rig = Rig()
    rig.start()
    sent = len(rig.registers_to(PRIMARY))
    rig.manager.network_changed(only_failed=True)  # registered: nothing to retry
    rig.drain()
    assert len(rig.registers_to(PRIMARY)) == sent and rig.statuses == ["registered"]
    rig.dead.update({PRIMARY, BACKUP})  # the link is down: every attempt goes unanswered
    rig.advance_to(45.0)  # refresh at 30 s, fail over, both silent: back-off
    assert rig.manager.info()["office"]["status"] == "reg failed"
    rig.dead.clear()  # the link is back, same address
    before = len(rig.wire)
    rig.manager.network_changed(only_failed=True)
    rig.drain()
    assert [r.method for _, r in rig.wire[before:]][:1] == ["REGISTER"]  # now, not at back-off
    assert rig.manager.info()["office"]["status"] in ("registered", "on backup")
