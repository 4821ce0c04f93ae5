"""In-process network of sans-IO user agents, for tests: deliver datagrams, advance a fake clock."""

from __future__ import annotations

from collections.abc import Callable

from deskphone.sip.useragent import UaConfig, UserAgent

Addr = tuple[str, int]


class Network:
    def __init__(self) -> None:
        self.agents: dict[Addr, UserAgent] = {}
        self.now = 0.0
        self.wire: list[tuple[Addr, Addr, bytes]] = []  # (src, dst, data) log
        self.drop: Callable[[Addr, Addr, bytes], bool] = lambda src, dst, data: False

    def agent(self, user: str, port: int, **options: object) -> UserAgent:
        config = UaConfig(
            user=user,
            display_name=user.title(),
            local_host="127.0.0.1",
            local_port=port,
            **options,
        )  # type: ignore[arg-type]
        ua = UserAgent(config)
        self.agents[("127.0.0.1", port)] = ua
        return ua

    def pump(self) -> None:
        """Deliver until quiet."""
        for _ in range(1000):
            moved = False
            for src, ua in list(self.agents.items()):
                for data, dst in ua.datagrams_to_send(self.now):
                    moved = True
                    self.wire.append((src, dst, data))
                    if self.drop(src, dst, data):
                        continue
                    target = self.agents.get(dst)
                    if target is not None:
                        target.receive_datagram(data, src, self.now)
            if not moved:
                return
        raise AssertionError("network did not settle")

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while True:
            deadlines = [
                t for ua in self.agents.values() if (t := ua.get_timer()) is not None
            ]
            upcoming = min(deadlines, default=None)
            if upcoming is None or upcoming > end:
                self.now = end
                self.pump()
                return
            self.now = max(self.now, upcoming)
            for ua in self.agents.values():
                timer = ua.get_timer()
                if timer is not None and timer <= self.now:
                    ua.handle_timer(self.now)
            self.pump()


def drain(ua: UserAgent) -> list[object]:
    out = []
    while (event := ua.next_event()) is not None:
        out.append(event)
    return out


def sent_lines(net: Network, src_port: int) -> list[str]:
    """Start lines sent by the agent on src_port, in order."""
    return [
        data.split(b"\r\n", 1)[0].decode()
        for src, _, data in net.wire
        if src[1] == src_port
    ]
