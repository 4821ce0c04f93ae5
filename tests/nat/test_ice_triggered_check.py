"""The controlled agent restarts an In-Progress check when the peer's check arrives (RFC 8445
§7.3.1.4), on loopback with aioice underneath and a scripted peer.

Behind two NATs the callee (controlled) checks first and the caller's router drops that check:
no mapping exists there yet. The caller's own check then gets through and reaches the callee
while the callee's check is still In-Progress. aioice alone would only retransmit that check at
its 500 ms timer (same transaction); our adapter sends a new check at once (a new transaction),
which succeeds, so the callee's pair is nominated without waiting. Here the "peer" is a plain
socket that swallows the agent's first check, then sends its own nominating check, and tells a
new check from a retransmission by the transaction ID.
"""

from __future__ import annotations

import asyncio
import socket

from aioice import stun

from deskphone.media.ice import IceCandidate, IceDescription, IceParameters
from deskphone.media.ice.agent import IceAgent

PEER_UFRAG, PEER_PWD = "peer", "peerpasswordpeerpassword"


async def _next_request(peer: socket.socket) -> tuple[stun.Message, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    while True:
        data, addr = await loop.sock_recvfrom(peer, 2048)
        message = stun.parse_message(data)
        if message.message_class == stun.Class.REQUEST:
            return message, addr


def test_a_peer_check_restarts_our_in_progress_check_as_a_new_transaction() -> None:
    async def scenario() -> tuple[bytes, bytes, int, str]:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        agent = IceAgent(controlling=False, host_addresses=["127.0.0.1"])
        try:
            local = await agent.gather()
            candidate = IceCandidate("peer1", 1, "udp", 2130706431, "127.0.0.1",
                                     peer.getsockname()[1], "host")
            await agent.set_remote(IceDescription(IceParameters(PEER_UFRAG, PEER_PWD),
                                                  (candidate,)))
            connecting = asyncio.create_task(agent.connect(timeout=10))
            first, ours = await asyncio.wait_for(_next_request(peer), 5)  # "dropped"
            check = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
            check.attributes.update({
                "USERNAME": f"{local.parameters.ufrag}:{PEER_UFRAG}",
                "PRIORITY": 1853824767, "ICE-CONTROLLING": 0x1234, "USE-CANDIDATE": None})
            check.add_message_integrity(local.parameters.pwd.encode())
            check.add_fingerprint()
            peer.sendto(bytes(check), ours)
            second, _ = await asyncio.wait_for(_next_request(peer), 5)
            answer = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE,
                                  transaction_id=second.transaction_id)
            answer.attributes["XOR-MAPPED-ADDRESS"] = ours
            answer.add_message_integrity(PEER_PWD.encode())
            answer.add_fingerprint()
            peer.sendto(bytes(answer), ours)
            pair = await asyncio.wait_for(connecting, 10)
            return (first.transaction_id, second.transaction_id,
                    agent.stats.checks_triggered, pair.describe())
        finally:
            await agent.close()
            peer.close()

    first, second, triggered, pair = asyncio.run(scenario())
    assert second != first, "the agent only retransmitted its check (RFC 8445 §7.3.1.4)"
    assert triggered == 1 and pair.startswith("host 127.0.0.1:"), (triggered, pair)
