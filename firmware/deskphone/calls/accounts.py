"""Registration of the phone's accounts, with registrar fail-over, wired to the SIP user agent.

Theory of operation
-------------------
Each `[[accounts]]` entry lists its registrars, primary first. One `RegistrarFailover` policy per
account (deskphone.routing.failover, sans-IO) decides where to register; this module carries its
decisions out on the user agent and feeds it what the user agent reports:

    policy RegisterWith(registrar)   → ua.use_registrar(account, registrar)   (REGISTER there; it
                                       is also the outbound proxy of new calls, RFC 3261 §8.1.2)
    policy Unregister(registrar)     → ua.remove_binding_at(account, registrar)  (§10.2.2)
    policy ProbeRegistrar(primary)   → ua.probe(primary)  (OPTIONS, §11)
    policy AllRegistrarsDown         → status "reg failed"; the policy's back-off timer restarts
    ua RegistrationState registered  → policy.registration_succeeded
    ua RegistrationState failed      → policy.registration_failed (None = no answer, or the code)
    ua ProbeResult                   → policy.probe_result (any answer means alive)

The user agent's own retry after a failure is kept only for failures the policy ignores (4xx and
6xx: wrong credentials, unknown user — every registrar would say the same); when the policy moves
the account or backs off, it owns the next attempt.

What the person sees (`StatusChanged`): "registering", "registered" (on the primary), "on backup"
(registered on a fail-over registrar), "reg failed". With several accounts the text names the
account. Calls already up are never touched by a change of registrar: their signalling follows
their own route set (RFC 3261 §12.2.1.1) and their media never went through a server.

The class is loop-agnostic: `command` runs a user agent command with `now` (SipEndpoint.command),
`schedule(when, callback)` arms a timer and returns something with `cancel()`, so tests drive it
with a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from deskphone.config import AccountConfig
from deskphone.routing.events import AllRegistrarsDown, ProbeRegistrar, RegisterWith, Unregister
from deskphone.routing.failover import FailoverConfig, RegistrarFailover
from deskphone.sip import events as sev
from deskphone.sip.registration import REGISTRAR_NOT_FOUND
from deskphone.sip.useragent import UserAgent

log = logging.getLogger(__name__)

REGISTERING = "registering"
REGISTERED = "registered"
ON_BACKUP = "on backup"
REG_FAILED = "reg failed"


class Cancellable(Protocol):
    def cancel(self) -> None: ...


@dataclass
class AccountState:
    """One account as the phone sees it (also what `info()` reports on the control socket)."""

    config: AccountConfig
    ua_name: str  # the user agent's account key (user@domain)
    policy: RegistrarFailover
    status: str = REGISTERING
    registrar: str = ""  # where we register now
    expires: int = 0  # what the registrar granted
    registrations: int = 0  # successful REGISTERs, refreshes included
    failures: int = 0
    last_failure: str | None = None
    probes: dict[str, str] = field(default_factory=dict)  # probe id → registrar probed


class AccountManager:
    def __init__(
        self,
        accounts: Sequence[AccountConfig],
        ua_names: Mapping[str, str],
        ua: UserAgent,
        command: Callable[..., Any],
        clock: Callable[[], float],
        schedule: Callable[[float, Callable[[], None]], Cancellable],
        on_status: Callable[[str], None],
        *,
        random: Callable[[], float] | None = None,
        keepalive_seconds: float = 0,
        flow_check_seconds: float = 0,
    ) -> None:
        self.ua = ua
        self.command = command
        self.clock = clock
        self.schedule = schedule
        self.on_status = on_status
        self.accounts: dict[str, AccountState] = {}
        for account in accounts:
            failover = FailoverConfig(probe_interval=account.failover_probe_seconds,
                                      backoff_base=account.retry_seconds)
            if random is not None:
                failover = replace(failover, random=random)
            policy = RegistrarFailover(account.name, account.registrars, failover)
            self.accounts[ua_names[account.name]] = AccountState(account, ua_names[account.name],
                                                                  policy)
        self._timer: Cancellable | None = None
        self.keepalive_seconds = keepalive_seconds
        self._keepalive: Cancellable | None = None
        self.flow_check_seconds = flow_check_seconds
        self._flow_check: Cancellable | None = None
        self.stats = {"failovers": 0, "fallbacks": 0, "probes": 0, "unknown_events": 0}

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        now = self.clock()
        for state in self.accounts.values():
            state.policy.start(now)
            self._run_policy(state)
        self._arm_timer()
        self._arm_keepalive()
        self._arm_flow_check()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self._flow_check is not None:
            self._flow_check.cancel()
            self._flow_check = None

    def _arm_keepalive(self) -> None:
        """RFC 5626 §4.4: every `keepalive_seconds`, a keep-alive on each registered UDP flow
        (the user agent sends it only to accounts that are registered)."""
        if self.keepalive_seconds > 0:
            self._keepalive = self.schedule(self.clock() + self.keepalive_seconds,
                                            self._send_keepalive)

    def _send_keepalive(self) -> None:
        self.command(self.ua.keepalive)
        self._arm_keepalive()

    def _arm_flow_check(self) -> None:
        """RFC 5626 §4.4.2: every `flow_check_seconds`, ask each registrar whether our flow's
        public mapping is still the one it registered (sip/flow.py)."""
        if self.flow_check_seconds > 0:
            self._flow_check = self.schedule(self.clock() + self.flow_check_seconds,
                                             self._check_flows)

    def _check_flows(self) -> None:
        self.command(self.ua.check_flows)
        self._arm_flow_check()

    def network_changed(self, *, only_failed: bool = False) -> None:
        """Our address changed: REGISTER again at once, with the new Contact and Via, wherever
        each account is registered or trying to (RFC 3261 §10.2.1: a new binding; the one at
        the old address is removed by the same request, registration.py `bound_contact`).
        `only_failed`: the link came back with the same address — only the accounts that
        failed meanwhile try now, rather than at the end of a back-off grown while the link was
        down."""
        for state in self.accounts.values():
            if only_failed and state.status in (REGISTERED, ON_BACKUP, REGISTERING):
                continue
            registrar = state.registrar or state.policy.primary
            self._set_status(state, REGISTERING)
            self.command(self.ua.use_registrar, state.ua_name, registrar)

    # -- what the user agent reports -----------------------------------------------------------

    def on_registration(self, event: sev.RegistrationState) -> None:
        state = self.accounts.get(event.account)
        if state is None:
            self.stats["unknown_events"] += 1
            return
        now = self.clock()
        registrar = event.registrar or state.registrar
        if event.state == "registered":
            state.registrations += 1
            log.info("account %s: registered with %s for %d s", state.config.name, registrar,
                     event.expires)
            state.expires = event.expires
            state.last_failure = None
            if not state.policy.registered or registrar != state.policy.current:
                # Refreshes are not news to the policy (they would push its next probe of the
                # primary back every time).
                state.policy.registration_succeeded(registrar, now)
                self._run_policy(state)  # after a fallback: remove the binding left behind
            on_primary = registrar == state.policy.primary
            self._set_status(state, REGISTERED if on_primary else ON_BACKUP)
        elif event.state == "failed":
            state.failures += 1
            state.last_failure = event.reason
            log.info("account %s: registration with %s failed: %s", state.config.name,
                     registrar, event.reason)
            state.policy.registration_failed(registrar, event.code, now, event.retry_after)
            if not self._run_policy(state):
                # A 4xx/6xx (wrong credentials, unknown user): no registrar would say otherwise,
                # the user agent's own slow retry stays armed.
                self._set_status(state, failure_status(event.reason))
        self._arm_timer()

    def on_probe_result(self, event: sev.ProbeResult) -> None:
        for state in self.accounts.values():
            registrar = state.probes.pop(event.probe_id, None)
            if registrar is not None:
                state.policy.probe_result(registrar, event.code is not None, self.clock())
                self._run_policy(state)
                self._arm_timer()
                return
        self.stats["unknown_events"] += 1

    # -- the policies' decisions -----------------------------------------------------------------

    def _run_policy(self, state: AccountState) -> bool:
        """Carry out what the policy asks; True when it took over the next attempt."""
        took_over = False
        while (decision := state.policy.next_event()) is not None:
            match decision:
                case RegisterWith(registrar=registrar, reason=reason):
                    took_over = True
                    if reason == "failover":
                        self.stats["failovers"] += 1
                    elif reason == "fallback":
                        self.stats["fallbacks"] += 1
                    log.info("account %s: registering with %s (%s)", state.config.name,
                             registrar, reason)
                    state.registrar = registrar
                    if state.status not in (REGISTERED, ON_BACKUP) or reason != "fallback":
                        self._set_status(state, REGISTERING)
                    self.command(self.ua.use_registrar, state.ua_name, registrar)
                case Unregister(registrar=registrar):
                    self.command(self.ua.remove_binding_at, state.ua_name, registrar)
                case ProbeRegistrar(registrar=registrar):
                    self.stats["probes"] += 1
                    probe_id = self.command(self.ua.probe, registrar,
                                            timeout=state.config.failover_timeout_seconds)
                    state.probes[probe_id] = registrar
                case AllRegistrarsDown(retry_at=retry_at):
                    took_over = True
                    log.info("account %s: every registrar failed; next try in %.0f s",
                             state.config.name, retry_at - self.clock())
                    self.command(self._hold_retry, state.ua_name)
                    self._set_status(state, failure_status(state.last_failure))
        return took_over

    def _hold_retry(self, ua_name: str, now: float) -> None:
        """The policy backs off: the registration must not retry on its own meanwhile."""
        registration = self.ua.registrations.get(ua_name)
        if registration is not None:
            registration.refresh_at = None

    def _set_status(self, state: AccountState, status: str) -> None:
        if state.status == status:
            return
        state.status = status
        text = status if len(self.accounts) == 1 else f"{state.config.name}: {status}"
        self.on_status(text)

    # -- timers ----------------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadlines = [t for s in self.accounts.values() if (t := s.policy.get_timer()) is not None]
        if deadlines:
            self._timer = self.schedule(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock()
        for state in self.accounts.values():
            state.policy.handle_timer(now)
            self._run_policy(state)
        self._arm_timer()

    # -- the control socket ------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return {
            state.config.name: {
                "status": state.status,
                "registrar": state.registrar,
                "primary": state.policy.primary,
                "expires": state.expires,
                "registrations": state.registrations,
                "failures": state.failures,
                "failovers": state.policy.failover_count,
                "last_failure": state.last_failure,
            }
            for state in self.accounts.values()
        }


def failure_status(reason: str | None) -> str:
    """What the idle screen says of a failed account: "No DNS: pbx.example.com" when the
    registrar's name did not resolve (the fix is in DNS, the hosts file or the config, not at
    the server; the status line beside the clock has room for the name, not for "Registrar not
    found" too: that full reason is the account's `last_failure`), else "reg failed"."""
    prefix = f"{REGISTRAR_NOT_FOUND}: "
    if reason is not None and reason.startswith(prefix):
        return f"No DNS: {reason.removeprefix(prefix)}"
    return REG_FAILED
