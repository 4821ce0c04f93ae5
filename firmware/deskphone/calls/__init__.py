"""The call layer: one phone's calls over SIP, SDP, media and ZRTP (see manager.py).

    manager.py        CallManager: commands in, events out (the app drains `next_event`)
    call.py           ActiveCall and its state table
    call_media.py     a call's SDP, media stream and ZRTP driver
    zrtp_driver.py    ZRTP's asyncio adapter, the media stream's encryption plug-in
    sip_setup.py      the user agent and its endpoint from the configuration
    audio_path.py     the handset with the phone's tones mixed in; the media port range
    routes.py         dial plan and LAN directory
    accounts.py       registration with registrar fail-over
    transfer.py       blind transfer (RFC 3515 / RFC 5589)
    peer_identity.py  LAN ZID checks (RFC 6189 §4.9)
    events.py         what the call layer reports besides the phone's events
"""
