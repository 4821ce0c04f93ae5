"""SIP transactions (RFC 3261 §17, with the RFC 6026 "Accepted" states), sans-IO.

Theory of operation
-------------------
A transaction is one request and its responses. Four machines exist: INVITE client (ict),
non-INVITE client (nict), INVITE server (ist) and non-INVITE server (nist). Everything that
changes a state is in `TRANSITIONS` below, keyed (machine, state, event) -> new state, drawn
from RFC 3261 figures 5-8 and RFC 6026 figures 3-4. An event with no row is absorbed (a
retransmission or a late message) and counted; it never raises.

Objects never read a clock: each call takes `now`. Outgoing datagrams are queued in `outbox`
(bytes, addr); what the transaction user must learn is queued in `events` as
(kind, payload) tuples: ("response", SipResponse), ("timeout", None), ("ack", SipRequest).
Timers (RFC 3261 Table 4) live in `timers` as name -> deadline; `next_deadline()` and
`handle_timer(now)` drive them.

One deliberate placement: the 2xx retransmissions that RFC 3261 §13.3.1.4 gives to the UAS
core are run by the INVITE server transaction in its Accepted state (RFC 6026 §7.1 keeps the
transaction alive exactly that long), so all retransmission logic lives in this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deskphone.sip.message import SipRequest, SipResponse

Addr = tuple[str, int]

# (machine, state, event) -> new state. Events: "1xx", "2xx", "3456xx" (final non-2xx),
# "request" (retransmission of the request at a server), "ack", "tu_1xx", "tu_2xx", "tu_3456xx",
# and "timer_X" for each timer.
TRANSITIONS: dict[tuple[str, str, str], str] = {
    # INVITE client, RFC 3261 Figure 5 + RFC 6026 Figure 3
    ("ict", "calling", "timer_A"): "calling",
    ("ict", "calling", "timer_B"): "terminated",
    ("ict", "calling", "1xx"): "proceeding",
    ("ict", "calling", "2xx"): "accepted",
    ("ict", "calling", "3456xx"): "completed",
    ("ict", "proceeding", "1xx"): "proceeding",
    ("ict", "proceeding", "2xx"): "accepted",
    ("ict", "proceeding", "3456xx"): "completed",
    ("ict", "proceeding", "timer_B"): "terminated",  # RFC 3261 leaves B running; we honour it
    ("ict", "completed", "3456xx"): "completed",
    ("ict", "completed", "timer_D"): "terminated",
    ("ict", "accepted", "2xx"): "accepted",
    ("ict", "accepted", "timer_M"): "terminated",
    # non-INVITE client, RFC 3261 Figure 6
    ("nict", "trying", "timer_E"): "trying",
    ("nict", "trying", "timer_F"): "terminated",
    ("nict", "trying", "1xx"): "proceeding",
    ("nict", "trying", "2xx"): "completed",
    ("nict", "trying", "3456xx"): "completed",
    ("nict", "proceeding", "timer_E"): "proceeding",
    ("nict", "proceeding", "timer_F"): "terminated",
    ("nict", "proceeding", "1xx"): "proceeding",
    ("nict", "proceeding", "2xx"): "completed",
    ("nict", "proceeding", "3456xx"): "completed",
    ("nict", "completed", "timer_K"): "terminated",
    # INVITE server, RFC 3261 Figure 7 + RFC 6026 Figure 4
    ("ist", "proceeding", "request"): "proceeding",
    ("ist", "proceeding", "tu_1xx"): "proceeding",
    ("ist", "proceeding", "tu_2xx"): "accepted",
    ("ist", "proceeding", "tu_3456xx"): "completed",
    ("ist", "completed", "request"): "completed",
    ("ist", "completed", "timer_G"): "completed",
    ("ist", "completed", "timer_H"): "terminated",
    ("ist", "completed", "ack"): "confirmed",
    ("ist", "confirmed", "timer_I"): "terminated",
    ("ist", "accepted", "request"): "accepted",
    ("ist", "accepted", "timer_G2xx"): "accepted",
    ("ist", "accepted", "ack"): "accepted",
    ("ist", "accepted", "timer_L"): "terminated",
    # non-INVITE server, RFC 3261 Figure 8
    ("nist", "trying", "tu_1xx"): "proceeding",
    ("nist", "trying", "tu_2xx"): "completed",
    ("nist", "trying", "tu_3456xx"): "completed",
    ("nist", "proceeding", "request"): "proceeding",
    ("nist", "proceeding", "tu_1xx"): "proceeding",
    ("nist", "proceeding", "tu_2xx"): "completed",
    ("nist", "proceeding", "tu_3456xx"): "completed",
    ("nist", "completed", "request"): "completed",
    ("nist", "completed", "timer_J"): "terminated",
}

INITIAL_STATE = {"ict": "calling", "nict": "trying", "ist": "proceeding", "nist": "trying"}


@dataclass(frozen=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 / Table 4 defaults: T1 500 ms (RTT estimate), T2 4 s, T4 5 s."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


def response_class(status: int) -> str:
    if status < 200:
        return "1xx"
    return "2xx" if status < 300 else "3456xx"


class Transaction:
    machine = ""

    def __init__(self, request: SipRequest, addr: Addr, reliable: bool, timers: TimerConfig):
        self.request = request
        self.addr = addr
        self.reliable = reliable
        self.config = timers
        self.state = INITIAL_STATE[self.machine]
        self.timers: dict[str, float] = {}
        self.outbox: list[tuple[bytes, Addr]] = []
        self.events: list[tuple[str, object]] = []
        self.absorbed = 0
        self.branch = request.top_via.branch or ""
        # Told each time the transaction is driven (so its owner visits only the transactions
        # that may have output, events or a new deadline, not the whole table).
        self.on_activity: Callable[[Transaction], None] | None = None
        self.key: tuple[str, str, str] | None = None  # its key in the owner's table

    def _touch(self) -> None:
        if self.on_activity is not None:
            self.on_activity(self)

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def _fire(self, event: str) -> bool:
        new_state = TRANSITIONS.get((self.machine, self.state, event))
        if new_state is None:
            self.absorbed += 1
            return False
        self.state = new_state
        if new_state == "terminated":
            self.timers.clear()
        return True

    def _send(self, data: bytes) -> None:
        self.outbox.append((data, self.addr))

    def next_deadline(self) -> float | None:
        return min(self.timers.values(), default=None)

    def handle_timer(self, now: float) -> None:
        self._touch()
        for name, deadline in sorted(self.timers.items(), key=lambda item: item[1]):
            if deadline <= now and self.timers.get(name) == deadline and not self.terminated:
                del self.timers[name]
                self._on_timer(name, now)

    def _on_timer(self, name: str, now: float) -> None:
        raise NotImplementedError


class ClientTransaction(Transaction):
    """ict / nict: sends the request, retransmits over UDP, matches responses (§17.1)."""

    def __init__(
        self, request: SipRequest, addr: Addr, reliable: bool, timers: TimerConfig, now: float
    ):
        self.machine = "ict" if request.method == "INVITE" else "nict"
        super().__init__(request, addr, reliable, timers)
        self.interval = timers.t1
        self.last_final: SipResponse | None = None
        self.ack: bytes | None = None
        self._send(request.serialize())
        if not reliable:
            self.timers["timer_A" if self.machine == "ict" else "timer_E"] = (
                now + self.interval
            )  # §17.1.1.2
        self.timers["timer_B" if self.machine == "ict" else "timer_F"] = now + 64 * timers.t1

    def receive_response(self, response: SipResponse, now: float) -> None:
        self._touch()
        kind = response_class(response.status)
        previous = self.state
        if not self._fire(kind):
            return
        if self.machine == "ict":
            self._ict_response(response, kind, previous, now)
        else:
            self._nict_response(response, kind, previous, now)

    def _ict_response(self, response: SipResponse, kind: str, previous: str, now: float) -> None:
        if kind == "1xx":
            self.timers.pop("timer_A", None)
            self.events.append(("response", response))
        elif kind == "2xx":
            # RFC 6026 §7.2: every 2xx goes to the TU, which ACKs it end to end; Timer M absorbs.
            self.timers.pop("timer_A", None)
            self.timers.pop("timer_B", None)
            self.timers.setdefault("timer_M", now + 64 * self.config.t1)
            self.events.append(("response", response))
        else:
            # §17.1.1.3: ACK every non-2xx final; pass only the first one up.
            self.ack = build_non2xx_ack(self.request, response).serialize()
            self._send(self.ack)
            if previous != "completed":
                self.timers.pop("timer_A", None)
                self.timers.pop("timer_B", None)
                self.timers["timer_D"] = now + (0 if self.reliable else 32.0)
                self.events.append(("response", response))

    def _nict_response(self, response: SipResponse, kind: str, previous: str, now: float) -> None:
        self.events.append(("response", response))
        if kind == "1xx":
            if "timer_E" in self.timers:
                self.interval = self.config.t2  # §17.1.2.2: in Proceeding, retransmit every T2
        else:
            self.timers.pop("timer_E", None)
            self.timers.pop("timer_F", None)
            self.timers["timer_K"] = now + (0 if self.reliable else self.config.t4)

    def _on_timer(self, name: str, now: float) -> None:
        if not self._fire(name):
            return
        if name == "timer_A":  # §17.1.1.2: double each time, no cap for INVITE
            self._send(self.request.serialize())
            self.interval *= 2
            self.timers["timer_A"] = now + self.interval
        elif name == "timer_E":  # §17.1.2.2: min(2*interval, T2)
            self._send(self.request.serialize())
            if self.state == "trying":
                self.interval = min(2 * self.interval, self.config.t2)
            self.timers["timer_E"] = now + self.interval
        elif name in ("timer_B", "timer_F"):
            self.events.append(("timeout", None))


class ServerTransaction(Transaction):
    """ist / nist: absorbs request retransmissions, retransmits responses (§17.2)."""

    def __init__(
        self, request: SipRequest, addr: Addr, reliable: bool, timers: TimerConfig, now: float
    ):
        self.machine = "ist" if request.method == "INVITE" else "nist"
        super().__init__(request, addr, reliable, timers)
        self.last_response: bytes | None = None
        self.interval = timers.t1

    def receive_request(self, request: SipRequest, now: float) -> None:
        """A retransmission of the request (or, for INVITE, the ACK for a non-2xx final)."""
        self._touch()
        if request.method == "ACK":
            if self._fire("ack"):
                self.events.append(("ack", request))
                if self.state == "confirmed":
                    self.timers.pop("timer_G", None)
                    self.timers.pop("timer_H", None)
                    self.timers["timer_I"] = now + (0 if self.reliable else self.config.t4)
                else:  # accepted: the ACK for our 2xx stops its retransmission
                    self.timers.pop("timer_G2xx", None)
            return
        if self._fire("request") and self.last_response is not None:
            self._send(self.last_response)  # §17.2.1 / §17.2.2: answer retransmissions

    def send_response(self, response: SipResponse, now: float) -> None:
        self._touch()
        kind = "tu_" + response_class(response.status)
        if not self._fire(kind):
            raise TransactionStateError(
                f"{self.machine} transaction in {self.state!r} cannot send {response.status}"
            )
        self.last_response = response.serialize()
        self._send(self.last_response)
        if self.machine == "ist":
            if kind == "tu_2xx":  # RFC 6026 §7.1 Timer L; §13.3.1.4 2xx retransmission
                self.timers["timer_L"] = now + 64 * self.config.t1
                self.timers["timer_G2xx"] = now + self.interval
            elif kind == "tu_3456xx":
                if not self.reliable:
                    self.timers["timer_G"] = now + self.interval
                self.timers["timer_H"] = now + 64 * self.config.t1
        elif kind != "tu_1xx":
            self.timers["timer_J"] = now + (0 if self.reliable else 64 * self.config.t1)

    def _on_timer(self, name: str, now: float) -> None:
        if not self._fire(name):
            return
        if name in ("timer_G", "timer_G2xx"):
            if self.last_response is not None:
                self._send(self.last_response)
            self.interval = min(2 * self.interval, self.config.t2)
            self.timers[name] = now + self.interval
        elif name == "timer_H":
            self.events.append(("timeout", None))  # §17.2.1: ACK never came
        elif name == "timer_L":
            # The UAS core learns the 2xx window closed (§13.3.1.4: BYE if no ACK came).
            self.events.append(("accepted_done", None))


class TransactionStateError(RuntimeError):
    """The transaction user asked for something the current state forbids."""


def build_non2xx_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """RFC 3261 §17.1.1.3: Request-URI, top Via, From, Call-ID, CSeq number of the INVITE;
    To from the response."""
    ack = SipRequest(method="ACK", uri=invite.uri)
    ack.headers.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.raw("Route"):
        ack.headers.add("Route", route)
    ack.headers.add("Max-Forwards", "70")
    ack.headers.add("From", invite.headers.get("From") or "")
    ack.headers.add("To", response.headers.get("To") or "")
    ack.headers.add("Call-ID", invite.call_id)
    ack.headers.add("CSeq", f"{invite.cseq.number} ACK")
    return ack


def transaction_key(
    message: SipRequest | SipResponse, method: str | None = None
) -> tuple[str, str, str]:
    """RFC 3261 §17.1.3 / §17.2.3: branch, sent-by and method.

    ACK matches its INVITE; CANCEL has a transaction of its own."""
    via = message.top_via
    if method is None:
        method = message.cseq.method
    sent_by = via.host if via.port is None else f"{via.host}:{via.port}"
    return via.branch or "", sent_by.lower(), ("INVITE" if method == "ACK" else method)
