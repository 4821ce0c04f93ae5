"""The user agent's transaction table (RFC 3261 §17.1.3 / §17.2.3 matching), sans-IO.

It stores client and server transactions by key, starts client transactions for the parts of
the user agent (registration, INVITE sessions, in-dialog requests, probes) through the
`TransactionStarter` interface, and hands back what the transactions produced since the last
pass: their datagrams and their events. Only transactions driven since that pass are visited,
and deadlines sit in a heap, so a flood costs the same per request however many transactions
are open. It also counts live transactions per Call-ID, so the owner can free an ended call
once the RFC 3261 timers have absorbed everything it can still receive.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Protocol

from deskphone.sip.message import SipRequest
from deskphone.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    TransactionEvent,
    transaction_key,
)

Addr = tuple[str, int]
Key = tuple[str, str, str]


class TransactionStarter(Protocol):
    """What the parts of the user agent are given to send requests with."""

    def start_client(self, request: SipRequest, addr: Addr, now: float) -> ClientTransaction: ...

    def abandon(self, transaction: Transaction) -> None: ...


class TransactionTable:
    def __init__(self, reliable: bool, timers: TimerConfig,
                 prepare: Callable[[SipRequest], None]):
        self.reliable = reliable
        self.timers = timers
        self._prepare = prepare  # the builder's last touch (User-Agent, privacy) before sending
        self.transactions: dict[Key, Transaction] = {}
        self._touched: dict[int, Transaction] = {}
        self._live: dict[str, int] = {}
        self.freed_call_ids: set[str] = set()  # Call-IDs whose last transaction just went
        self._deadlines: list[tuple[float, int, Transaction]] = []  # heap, stale entries skipped
        self._deadline_seq = 0
        self.server_count = 0  # open server transactions: what remote parties hold
        # Told when a server transaction is forgotten (admission.py counts who holds them).
        self.on_server_forgotten: Callable[[Key], None] | None = None

    # -- storing -------------------------------------------------------------------------------
    def start_client(self, request: SipRequest, addr: Addr, now: float) -> ClientTransaction:
        self._prepare(request)
        transaction = ClientTransaction(request, addr, self.reliable, self.timers, now)
        self.track(transaction_key(request), transaction)
        return transaction

    def start_server(self, request: SipRequest, addr: Addr, now: float) -> ServerTransaction:
        transaction = ServerTransaction(request, addr, self.reliable, self.timers, now)
        self.track(transaction_key(request), transaction)
        return transaction

    def get(self, key: Key) -> Transaction | None:
        return self.transactions.get(key)

    def track(self, key: Key, transaction: Transaction) -> None:
        """Store a transaction; it reports to `_touched` whenever it is driven."""
        if key in self.transactions:
            self.forget(key)
        self.transactions[key] = transaction
        transaction.key = key
        self.server_count += isinstance(transaction, ServerTransaction)
        call_id = transaction.request.call_id
        self._live[call_id] = self._live.get(call_id, 0) + 1
        transaction.on_activity = self._on_activity
        self._touched[id(transaction)] = transaction

    def _on_activity(self, transaction: Transaction) -> None:
        self._touched[id(transaction)] = transaction

    def forget(self, key: Key) -> None:
        transaction = self.transactions.pop(key, None)
        if transaction is None:
            return
        transaction.on_activity = None
        if isinstance(transaction, ServerTransaction):
            self.server_count -= 1
            if self.on_server_forgotten is not None:
                self.on_server_forgotten(key)
        call_id = transaction.request.call_id
        left = self._live.get(call_id, 1) - 1
        if left > 0:
            self._live[call_id] = left
        else:
            self._live.pop(call_id, None)
            self.freed_call_ids.add(call_id)

    def abandon(self, transaction: Transaction) -> None:
        """Forget a client transaction its owner gave up on: no more retransmissions, and a
        late response is counted as unmatched."""
        if transaction.key is not None and self.transactions.get(transaction.key) is transaction:
            self.forget(transaction.key)

    def abandon_call(self, call_id: str) -> None:
        for key, transaction in list(self.transactions.items()):
            if transaction.request.call_id == call_id:
                self.forget(key)

    def live(self, call_id: str) -> bool:
        return bool(self._live.get(call_id))

    # -- what the transactions produced ----------------------------------------------------------
    def outboxes(self) -> list[tuple[bytes, Addr]]:
        out: list[tuple[bytes, Addr]] = []
        for transaction in self._touched.values():
            out.extend(transaction.outbox)
            transaction.outbox.clear()
        return out

    def drain(self, out: list[tuple[bytes, Addr]]) -> Iterator[tuple[Transaction,
                                                                     TransactionEvent]]:
        """Each event of each driven transaction, in turn (handling one may drive others);
        their datagrams go to `out`, terminated ones are forgotten, the rest rescheduled."""
        while self._touched:
            transaction = self._touched.pop(next(iter(self._touched)))
            while transaction.events:
                yield transaction, transaction.events.pop(0)
            out.extend(transaction.outbox)
            transaction.outbox.clear()
            key = transaction.key
            if key is None or self.transactions.get(key) is not transaction:
                continue
            if transaction.terminated:
                self.forget(key)
            else:
                self._schedule(transaction)

    # -- deadlines -----------------------------------------------------------------------------
    def _schedule(self, transaction: Transaction) -> None:
        deadline = transaction.get_timer()
        if deadline is not None:
            self._deadline_seq += 1
            heapq.heappush(self._deadlines, (deadline, self._deadline_seq, transaction))

    def _top_is_current(self) -> bool:
        """Drop heap entries whose transaction is gone or has moved its deadline since."""
        while self._deadlines:
            deadline, _, transaction = self._deadlines[0]
            key = transaction.key
            if (
                key is not None
                and self.transactions.get(key) is transaction
                and transaction.get_timer() == deadline
            ):
                return True
            heapq.heappop(self._deadlines)
        return False

    def get_timer(self) -> float | None:
        for transaction in self._touched.values():
            self._schedule(transaction)
        return self._deadlines[0][0] if self._top_is_current() else None

    def handle_timer(self, now: float) -> None:
        for transaction in self._touched.values():
            self._schedule(transaction)
        while self._top_is_current() and self._deadlines[0][0] <= now:
            _, _, transaction = heapq.heappop(self._deadlines)
            transaction.handle_timer(now)  # touched: `drain` reschedules it


__all__ = ["TransactionStarter", "TransactionTable"]
