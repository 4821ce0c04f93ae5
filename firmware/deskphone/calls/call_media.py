"""A call's media side: its SDP, its media stream and the ZRTP driver plugged into that stream.

Functions of one `ActiveCall` and the settings, used by the manager: they open and start what a
call needs and never decide where the call goes next (that is the manager's, and the table's in
call.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from deskphone.calls import call_ice
from deskphone.calls.audio_path import ToneMixingPort, ToneSource, open_media
from deskphone.calls.call import ActiveCall
from deskphone.calls.zrtp_driver import ZrtpDriver
from deskphone.config import Config
from deskphone.devices.audio import AudioPort
from deskphone.routing.primary_address import is_wildcard
from deskphone.routing.privacy import PrivacyPolicy
from deskphone.sdp import LocalMedia, Negotiated, OfferAnswer
from deskphone.zrtp.session import ZrtpConfig, ZrtpSession
from deskphone.zrtp.writer import CacheWriter

log = logging.getLogger(__name__)


def new_offer_answer(config: Config) -> OfferAnswer:
    policy = PrivacyPolicy(enabled=config.sip.privacy)
    return OfferAnswer(username=policy.sdp_username(config.identity.user))


def local_media(config: Config, call: ActiveCall, sip_host: str, *,
                answer: bool = False) -> LocalMedia:
    """What our SDP offers or answers for this call (RFC 3264 §5), a=zrtp-hash included.
    `sip_host`: the address our Via and Contact advertise. Media bound to a wildcard ([media]
    host 0.0.0.0, the Pi's default) receives on every address, but c= and o= must name one the
    far end can send to (RFC 4566 §5.7; c=0.0.0.0 would even mean hold, RFC 3264 §8.4): the
    same address as our SIP, which follows the network (calls/network.py)."""
    assert call.media is not None and call.zrtp is not None
    ice = call_ice.local_attributes(call, answer=answer)
    if ice is not None:  # RFC 8839 §4.2.1.2: c=/m= carry the default candidate
        address, port, attributes = ice
        return LocalMedia(address=address, port=port, codecs=config.audio.codecs, dtmf=True,
                          zrtp_hash=call.zrtp.hello_hash(), direction=call.direction,
                          ice=attributes)
    address = sip_host if is_wildcard(config.media.host) else config.media.host
    return LocalMedia(address=address, port=call.media.local_port,
                      codecs=config.audio.codecs, dtmf=True,
                      zrtp_hash=call.zrtp.hello_hash(), direction=call.direction)


def probe_media(codecs: tuple[str, ...]) -> LocalMedia:
    """Media to check an offer against before a port is opened for it."""
    return LocalMedia(address="127.0.0.1", port=9, codecs=codecs, dtmf=True, zrtp_hash=None)


async def open_call_media(call: ActiveCall, config: Config, *, audio: AudioPort,
                          tones: ToneSource, zid: bytes, cache: CacheWriter,
                          clock: Callable[[], float], loop: asyncio.AbstractEventLoop) -> None:
    """Bind the call's media port and plug a ZRTP driver into its stream (left unset when the
    call ended meanwhile)."""
    if call.media is not None:
        return
    media = await open_media(config.media, ToneMixingPort(audio, tones))
    if call.ended:  # the caller gave up while the port was being opened
        await media.close()
        return
    z = config.zrtp
    # RFC 6189 §5: a ZRTP packet carries the SSRC of its sender's RTP stream.
    driver: list[ZrtpDriver] = []
    session = ZrtpSession(
        ZrtpConfig(zid=zid, key_agreements=z.key_agreements, sas_types=z.sas_types,
                   pbx_enrolled=frozenset(z.enrolled_pbx_zids), mtu=z.mtu),
        ssrc=media.ssrc, lookup_secrets=cache.lookup,
        # Writes go to a worker thread: their fsync never holds the loop (issue 13, item 7);
        # a failed write ends the handshake with a clear outcome instead of a silent call.
        store_secrets=cache.store_for(lambda reason: driver[0].cache_write_failed(reason)))
    call.zrtp = ZrtpDriver(session, clock, loop, allow_cleartext=not z.require_secure)
    driver.append(call.zrtp)
    call.media = media
    media.set_encryption(call.zrtp)  # the stream's menc: ZRTP packets go to the driver


def start_media(call: ActiveCall, negotiated: Negotiated) -> None:
    """Media towards the peer's address from its SDP, with the negotiated codec (no audio
    until ZRTP keys the stream)."""
    assert call.media is not None and call.zrtp is not None
    call.negotiated = negotiated
    codec = negotiated.codec
    assert codec is not None, "a rejected stream never reaches the media layer"
    call.media.start((negotiated.remote_address, negotiated.remote_port), codec,
                     dtmf_pt=negotiated.dtmf_payload_type, rtcp_mux=negotiated.rtcp_mux)
    call.media.set_direction(negotiated.direction)
    # Symmetric RTP latching for a peer without ICE (issue 14 item 3); an ICE pair is fixed.
    call.media.enable_latching(negotiated.remote_ice is None)
    if negotiated.remote_zrtp_hash:
        version = negotiated.remote_zrtp_version or "1.10"
        try:  # RFC 6189 §8.1: the peer's Hello must hash to what its SDP promised
            call.zrtp.set_peer_hello_hash(f"{version} {negotiated.remote_zrtp_hash}")
        except ValueError as exc:
            log.warning("call %s: ignoring unusable a=zrtp-hash: %s", call.call_id, exc)


def call_info(call: ActiveCall) -> dict[str, Any]:
    """The current call for `state`: codec, direction, media and ZRTP counters, no keys."""
    info: dict[str, Any] = {"call_id": call.call_id}
    if call.negotiated is not None:
        info["codec"] = call.negotiated.codec.name if call.negotiated.codec else None
        info["direction"] = call.negotiated.direction
        info["remote_media"] = (f"{call.negotiated.remote_address}:"
                                f"{call.negotiated.remote_port}")
    ice = call_ice.ice_info(call)
    if ice is not None:
        info["ice"] = ice
        info["path"] = call_ice.path_label(call)
        if "remote" in ice:  # where the media really goes: the nominated pair
            info["remote_media"] = ice["remote"]
    if call.media is not None:
        info["media"] = dataclasses.asdict(call.media.stats)
    if call.zrtp is not None:
        info["zrtp"] = call.zrtp.info()
    return info
