"""PeerTable: what discovery accepts from the network, and what it refuses."""

from __future__ import annotations

import pytest

from deskphone.routing.peers import SERVICE_TYPE, PeerTable

OWN_ZID = "aa" * 12
ZID_B = "bb" * 12
ZID_C = "cc" * 12


def props(ext: str = "201", zid: str = ZID_B, name: str = "Bob", **extra: str) -> dict:
    return {b"v": b"1", b"ext": ext.encode(), b"zid": zid.encode(), b"name": name.encode(),
            **{k.encode(): v.encode() for k, v in extra.items()}}


def instance(label: str) -> str:
    return f"{label}.{SERVICE_TYPE}"


def table(**kwargs: object) -> PeerTable:
    return PeerTable("200", OWN_ZID, instance("me"), family=4, **kwargs)  # type: ignore[arg-type]


def test_valid_announcement_is_stored_and_looked_up() -> None:
    peers = table()
    assert peers.observe(instance("bob"), ["10.0.0.2"], 5062, props(), now=1.0)
    peer = peers.lookup("201")
    assert peer is not None
    assert (peer.host, peer.port, peer.zid, peer.name) == ("10.0.0.2", 5062, ZID_B, "Bob")
    assert not peers.observe(instance("bob"), ["10.0.0.2"], 5062, props(), now=1.0)  # no change
    assert peers.stats.accepted == 2


@pytest.mark.parametrize(
    ("addresses", "port", "properties", "reason"),
    [
        (["10.0.0.2"], 5062, props(ext="20a"), "extension"),
        (["10.0.0.2"], 5062, props(ext=""), "extension"),
        (["10.0.0.2"], 5062, props(ext="1" * 16), "extension"),
        (["10.0.0.2"], 5062, props(zid="xyz"), "zid"),
        (["10.0.0.2"], 5062, props(zid="bb" * 13), "zid"),
        (["10.0.0.2"], 5062, props(name="x" * 33), "name"),
        (["10.0.0.2"], 5062, props(name="evil\x1b[2J"), "name"),
        (["10.0.0.2"], 0, props(), "port"),
        (["10.0.0.2"], 70000, props(), "port"),
        (["10.0.0.2"], None, props(), "port"),
        (["fe80::1"], 5062, props(), "address"),          # wrong family for this interface
        (["224.0.0.251"], 5062, props(), "address"),
        (["0.0.0.0"], 5062, props(), "address"),
        (["not-an-ip"], 5062, props(), "address"),
        (["10.0.0.2"], 5062, {**props(), b"v": b"9"}, "version"),
        (["10.0.0.2"], 5062, {b"ext": b"\xff\xfe", b"zid": ZID_B.encode()}, "extension"),
        (["10.0.0.2"], 5062, props(zid=OWN_ZID), "own zid"),
    ],
)
def test_bad_records_are_dropped_and_counted(
    addresses: list[str], port: int | None, properties: dict, reason: str
) -> None:
    peers = table()
    assert not peers.observe(instance("x"), addresses, port, properties, now=1.0)
    assert peers.peers() == []
    assert peers.stats.rejected is not None and peers.stats.rejected[reason] == 1


def test_overlong_instance_label_is_rejected() -> None:
    peers = table()
    assert not peers.observe(instance("x" * 64), ["10.0.0.2"], 5062, props(), now=1.0)


def test_flood_is_rate_limited_and_the_table_capped_evicting_oldest() -> None:
    peers = table(max_peers=8, rate_per_second=10.0, burst=20)
    for i in range(1000):           # 1000 distinct fake phones in 1 s
        peers.observe(instance(f"p{i}"), ["10.0.0.2"], 5062, props(ext=str(1000 + i),
                                                                  zid=f"{i:024x}"), now=i / 1000)
    assert len(peers.peers()) == 8
    assert peers.stats.accepted <= 20 + 10 + 1
    assert peers.stats.rate_limited >= 1000 - 31
    # Long after, a steady stream is accepted again; the cap holds and the oldest go first.
    for i in range(100):
        peers.observe(instance(f"q{i}"), ["10.0.0.3"], 5062, props(ext=str(5000 + i),
                                                                  zid=f"{i + 5000:024x}"),
                      now=1000.0 + i)
    assert [p.instance for p in peers.peers()] == [instance(f"q{i}") for i in range(92, 100)]
    assert peers.stats.evicted > 0


def test_duplicate_extensions_are_conflicts_and_not_routable() -> None:
    peers = table()
    peers.observe(instance("bob"), ["10.0.0.2"], 5062, props(), now=1.0)
    peers.observe(instance("mallory"), ["10.0.0.9"], 5062, props(zid=ZID_C), now=2.0)
    assert peers.conflicts == {"201": [instance("bob"), instance("mallory")]}
    assert peers.lookup("201") is None            # refuse to guess which one is Bob
    peers.remove(instance("mallory"))
    assert peers.conflicts == {} and peers.lookup("201") is not None


def test_zid_change_for_a_known_extension_is_flagged() -> None:
    peers = table()
    peers.observe(instance("bob"), ["10.0.0.2"], 5062, props(), now=1.0)
    peers.remove(instance("bob"))
    peers.observe(instance("bob2"), ["10.0.0.2"], 5062, props(zid=ZID_C), now=5.0)
    peer = peers.lookup("201")
    assert peer is not None and peer.zid_changed
    assert peers.zid_changes == [peer]


def test_own_extension_taken_is_reported() -> None:
    peers = table()
    peers.observe(instance("other"), ["10.0.0.2"], 5062, props(ext="200"), now=1.0)
    assert peers.own_extension_taken_by == instance("other")
    peers.remove(instance("other"))
    assert peers.own_extension_taken_by is None


def test_own_announcement_is_ignored() -> None:
    peers = table()
    assert not peers.observe(instance("me"), ["10.0.0.1"], 5060, props(ext="200"), now=1.0)
    assert peers.peers() == []


def test_free_extension() -> None:
    peers = table()
    assert peers.free_extension("201") == "201"
    peers.observe(instance("bob"), ["10.0.0.2"], 5062, props(ext="201"), now=1.0)
    peers.observe(instance("carol"), ["10.0.0.3"], 5062, props(ext="202", zid=ZID_C), now=1.0)
    assert peers.free_extension("201") == "203"
    assert peers.free_extension("099") == "099"
    with pytest.raises(ValueError, match="extension 'x'"):
        peers.free_extension("x")
