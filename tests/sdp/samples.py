"""Session descriptions as real peers write them (shapes taken from captures and RFC 4317)."""

ZRTP_HASH = "fe30efd02423cb054e50efd6f3e4ba4a86c94c9f4a1b4a59a9d0c2d6a2d0c9a1"

# Linphone 5.1 (linphonec) with ZRTP: opus, speex, PCMU, PCMA, G729 + telephone-event.
LINPHONE_OFFER = (
    "v=0\r\n"
    "o=alice 2468 1357 IN IP4 127.0.0.1\r\n"
    "s=Talk\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
    "a=record:off\r\n"
    "m=audio 27078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:97 speex/16000\r\n"
    "a=fmtp:97 vbr=on\r\n"
    "a=rtpmap:98 speex/8000\r\n"
    "a=fmtp:98 vbr=on\r\n"
    "a=fmtp:18 annexb=yes\r\n"
    "a=rtpmap:101 telephone-event/48000\r\n"
    "a=rtpmap:99 telephone-event/16000\r\n"
    "a=rtpmap:100 telephone-event/8000\r\n"
    f"a=zrtp-hash:1.10 {ZRTP_HASH}\r\n"
    "a=rtcp-fb:* trr-int 1000\r\n"
    "a=rtcp-fb:* ccm tmmbr\r\n"
).encode()

# Asterisk (chan_pjsip) offer: static types first, LF line ends as some proxies rewrite them.
ASTERISK_OFFER = (
    b"v=0\n"
    b"o=- 1234567890 1234567890 IN IP4 192.168.1.10\n"
    b"s=Asterisk\n"
    b"c=IN IP4 192.168.1.10\n"
    b"t=0 0\n"
    b"m=audio 10000 RTP/AVP 0 8 3 9 101\n"
    b"a=rtpmap:0 PCMU/8000\n"
    b"a=rtpmap:8 PCMA/8000\n"
    b"a=rtpmap:3 GSM/8000\n"
    b"a=rtpmap:9 G722/8000\n"
    b"a=rtpmap:101 telephone-event/8000\n"
    b"a=fmtp:101 0-16\n"
    b"a=ptime:20\n"
    b"a=maxptime:150\n"
    b"a=sendrecv\n"
)

# Static payload types only, no rtpmap at all (RFC 3551 §6), media-level c=, IPv6.
BARE_STATIC_IPV6_OFFER = (
    b"v=0\r\n"
    b"o=- 1 1 IN IP6 2001:db8::1\r\n"
    b"s=-\r\n"
    b"t=0 0\r\n"
    b"m=audio 4000 RTP/AVP 8 0\r\n"
    b"c=IN IP6 2001:db8::1\r\n"
)

# RFC 3264 §10.1-style hold re-offer from a modern UA: sendonly.
HOLD_REOFFER_SENDONLY = (
    b"v=0\r\n"
    b"o=- 1234567890 1234567891 IN IP4 192.168.1.10\r\n"
    b"s=Asterisk\r\n"
    b"c=IN IP4 192.168.1.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=sendonly\r\n"
)

# Legacy (RFC 2543) hold: c=0.0.0.0, no direction attribute (RFC 3264 §8.4).
HOLD_REOFFER_LEGACY = (
    b"v=0\r\n"
    b"o=- 55 56 IN IP4 192.168.1.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 0.0.0.0\r\n"
    b"t=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0\r\n"
)

# Session-level direction overridden at media level; plus a video stream we must refuse.
AUDIO_VIDEO_OFFER = (
    b"v=0\r\n"
    b"o=bob 2890844730 2890844730 IN IP4 host.example.com\r\n"
    b"s=\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\n"
    b"a=recvonly\r\n"
    b"m=video 51372 RTP/AVP 31\r\n"
    b"a=rtpmap:31 H261/90000\r\n"
    b"m=audio 49170 RTP/AVP 0 97\r\n"
    b"a=rtpmap:97 iLBC/8000\r\n"
    b"a=sendrecv\r\n"
)

# SDES-keyed SRTP only: deskphone keys media with ZRTP, so the stream is refused.
SDES_ONLY_OFFER = (
    b"v=0\r\n"
    b"o=- 7 7 IN IP4 10.0.0.9\r\n"
    b"s=-\r\n"
    b"c=IN IP4 10.0.0.9\r\n"
    b"t=0 0\r\n"
    b"m=audio 5004 RTP/SAVP 0\r\n"
    b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n"
)

# Only codecs we do not have.
G729_ONLY_OFFER = (
    b"v=0\r\n"
    b"o=- 9 9 IN IP4 10.0.0.9\r\n"
    b"s=-\r\n"
    b"c=IN IP4 10.0.0.9\r\n"
    b"t=0 0\r\n"
    b"m=audio 5004 RTP/AVP 18\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
)
