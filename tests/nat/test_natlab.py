"""The NAT lab itself: its routers really translate, filter and forget, and its coturn serves.

Each test builds the lab (five namespaces), runs small UDP agents inside them and looks at what
the other side saw. Everything is torn down whatever happens; the last assertion of each fixture
checks that no namespace and no process was left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from deskphone_tools.natlab import (
    HOME_ADDRESS,
    PUBLIC_ADDRESS,
    ROUTER_WAN,
    NatLab,
    NatMode,
    TurnServer,
    UdpAgent,
    stun_binding,
)
from tests.support import require_root, require_tool

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def _lab(modes: tuple[NatMode, NatMode], udp_timeout: int = 30) -> Iterator[NatLab]:
    require_root()
    for tool in ("ip", "nft", "turnserver"):
        require_tool(tool)
    with NatLab(modes=modes, udp_timeout=udp_timeout) as lab:
        yield lab
    assert not lab.left_behind(), f"namespaces left behind: {lab.left_behind()}"


@pytest.fixture
def preserving_lab() -> Iterator[NatLab]:
    yield from _lab((NatMode.PORT_PRESERVING, NatMode.PORT_PRESERVING))


@pytest.fixture
def random_lab() -> Iterator[NatLab]:
    yield from _lab((NatMode.RANDOM, NatMode.RANDOM))


def test_udp_from_a_home_reaches_the_public_side_from_its_routers_address(
        preserving_lab: NatLab) -> None:
    lab = preserving_lab
    with UdpAgent(lab, lab.public) as server, UdpAgent(lab, lab.homes[0]) as home:
        home.send(PUBLIC_ADDRESS, server.port, "hello from home1")
        got = server.receive(5)
        assert got is not None, "the home's datagram never reached the public side"
        text, source = got
        assert text == "hello from home1"
        # masqueraded to the router's public address, the home's port kept (mode 1)
        assert source == (ROUTER_WAN[0], home.port), source
        assert source[0] != HOME_ADDRESS[0]
        # the reply comes back in through the mapping
        server.send(*source, "hello back")
        reply = home.receive(5)
        assert reply == ("hello back", (PUBLIC_ADDRESS, server.port))


def test_an_unsolicited_datagram_does_not_enter_a_home(preserving_lab: NatLab) -> None:
    """Address-and-port-dependent filtering: a public host the home never sent to is dropped,
    even on a port the router has mapped for someone else."""
    lab = preserving_lab
    with UdpAgent(lab, lab.public) as server, UdpAgent(lab, lab.public) as stranger, \
            UdpAgent(lab, lab.homes[0]) as home:
        home.send(PUBLIC_ADDRESS, server.port, "open a mapping")
        got = server.receive(5)
        assert got is not None
        stranger.send(*got[1], "let me in")
        assert home.receive(1.5) is None


def test_stun_binding_via_coturn_returns_the_routers_public_address(
        preserving_lab: NatLab) -> None:
    lab = preserving_lab
    with TurnServer(lab) as turn:
        mapped = stun_binding(lab.homes[1], turn.address, bind=("0.0.0.0", 40123))
        assert mapped == (ROUTER_WAN[1], 40123)
        # the server listens on the lab address only: nothing on the router's or home's side
        assert turn.config_text().count("listening-ip=") == 1
    assert turn.proc is not None and turn.proc.poll() is not None, "turnserver survived"


def _punch(a: UdpAgent, a_mapped: tuple[str, int], b: UdpAgent, b_mapped: tuple[str, int]
           ) -> tuple[object, object]:
    """Both homes send to each other's STUN-learned address at once, a few times (ICE's checks
    in miniature), and report what each received."""
    for _ in range(3):
        a.send(*b_mapped, "punch from a")
        b.send(*a_mapped, "punch from b")
    return b.receive(1.5), a.receive(1.5)


def test_hole_punching_works_behind_port_preserving_nats(preserving_lab: NatLab) -> None:
    """The control for the next test: the same punch succeeds when the NATs keep ports."""
    lab = preserving_lab
    with TurnServer(lab) as turn, UdpAgent(lab, lab.homes[0]) as a, \
            UdpAgent(lab, lab.homes[1]) as b:
        a_mapped, b_mapped = a.stun(turn.address), b.stun(turn.address)
        got_b, got_a = _punch(a, a_mapped, b, b_mapped)
        assert got_b is not None and got_a is not None
        assert got_b[1] == a_mapped and got_a[1] == b_mapped  # endpoint-independent mapping


def test_random_nats_defeat_hole_punching_but_a_turn_allocation_relays(
        random_lab: NatLab) -> None:
    lab = random_lab
    with TurnServer(lab) as turn, UdpAgent(lab, lab.homes[0]) as a, \
            UdpAgent(lab, lab.homes[1]) as b:
        a_mapped, b_mapped = a.stun(turn.address), b.stun(turn.address)
        assert a_mapped[0] == ROUTER_WAN[0] and b_mapped[0] == ROUTER_WAN[1]
        # a second destination gets another port: the mapping depends on the destination
        with UdpAgent(lab, lab.public) as server:
            a.send(PUBLIC_ADDRESS, server.port, "where am I")
            seen = server.receive(5)
            assert seen is not None and seen[1][0] == ROUTER_WAN[0]
            assert seen[1][1] != a_mapped[1], "mode 2 kept the port: not a random mapping"
        got_b, got_a = _punch(a, a_mapped, b, b_mapped)
        assert got_b is None and got_a is None, "hole punching went through a symmetric NAT"

        with UdpAgent(lab, lab.homes[0], turn=turn) as relayed:
            assert relayed.relayed is not None and relayed.relayed[0] == PUBLIC_ADDRESS
            # RFC 8656 §9: the allocation only lets in peers it has a permission for; sending
            # towards home2's router installs it (the datagram itself dies at router2).
            # The agent's send returns before the ChannelBind is answered, so home2 retries
            # until the relay lets it in (bounded: five seconds).
            relayed.send(*b_mapped, "permission")
            for _ in range(5):
                b.send(*relayed.relayed, "via the relay")
                if (got := relayed.receive(1)) is not None:
                    break
            assert got is not None and got[0] == "via the relay"
            assert got[1][0] == ROUTER_WAN[1]
            relayed.send(*got[1], "relayed reply")
            back = b.receive(5)
            assert back == ("relayed reply", relayed.relayed)


@pytest.fixture
def short_timeout_lab() -> Iterator[NatLab]:
    yield from _lab((NatMode.PORT_PRESERVING, NatMode.PORT_PRESERVING), udp_timeout=3)


def test_the_conntrack_timeout_expires_a_mapping(short_timeout_lab: NatLab) -> None:
    lab = short_timeout_lab
    router = lab.routers[0]
    assert router.read_sysctl("net.netfilter.nf_conntrack_udp_timeout") == "3"
    assert router.read_sysctl("net.netfilter.nf_conntrack_udp_timeout_stream") == "3"
    with UdpAgent(lab, lab.public) as server, UdpAgent(lab, lab.homes[0]) as home:
        home.send(PUBLIC_ADDRESS, server.port, "open")
        got = server.receive(5)
        assert got is not None
        mapped = got[1]
        server.send(*mapped, "inside the timeout")
        assert home.receive(5) == ("inside the timeout", (PUBLIC_ADDRESS, server.port))

        flow = f"sport={home.port} "
        assert any(flow in entry for entry in router.conntrack_entries())
        deadline = time.monotonic() + 3 * 4
        while any(flow in entry for entry in router.conntrack_entries()):
            assert time.monotonic() < deadline, "the router never forgot the mapping"
            time.sleep(0.25)  # polling the router's table, not waiting for correctness
        server.send(*mapped, "after the timeout")
        assert home.receive(1.5) is None, "a forgotten mapping still let a datagram in"
