"""Real third-party peers driven from Python, for interop tests and benchmarks.

- `linphone.LinphonePeer`: linphonec (Linphone 5.1, ZRTP by bzrtp) as an independent ZRTP peer.
- `linphonerc.LinphoneConfig`: the rc file that makes it a predictable loopback peer.
- `tshark`: loopback capture with dumpcap and ZRTP decoding with tshark.
- `bench.linphone_to_linphone`: the linphonec-to-linphonec INVITE-to-SAS reference timing.

None of this runs on the phone; it is test and bench tooling shipped with the package so that
`make bench` and the tests share one implementation.
"""

from deskphone_tools.peers.linphone import LinphoneError, LinphonePeer
from deskphone_tools.peers.linphonerc import LinphoneConfig

__all__ = ["LinphoneConfig", "LinphoneError", "LinphonePeer"]
