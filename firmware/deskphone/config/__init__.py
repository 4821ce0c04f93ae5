"""The phone's configuration: one TOML file, validated into frozen dataclasses.

No file at all gives working LAN defaults (serverless calling by extension over DNS-SD). Every
validation error names the key, the bad value and what was expected, so a person editing the file
on a laptop before first boot can fix it without reading code.

This module holds the dataclasses and the whole-file validation; `fields.py` the typed readers
and `ConfigError`, `nat.py` the [nat] section (STUN/TURN for ICE). Everything a caller needs is
importable from `deskphone.config`.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskphone.config.fields import (
    ConfigError,
    is_address,
    read_bool,
    read_choices,
    read_float,
    read_int,
    read_str,
    read_table,
    refuse_unknown_keys,
)
from deskphone.config.nat import NatConfig, TurnServerConfig, parse_nat
from deskphone.devices.pinmap import PinMapError, load_pinmap
from deskphone.routing.dialplan import DialPlan, DialPlanError

__all__ = [
    "DEFAULT_CONFIG_PATH", "AccountConfig", "AudioConfig", "Config", "ConfigError",
    "DiscoverySettings", "IdentityConfig", "Listen", "MediaConfig", "NatConfig", "PhoneSettings",
    "SipConfig", "TurnServerConfig", "ZrtpSettings", "config_from_dict", "default_data_dir",
    "load_config", "parse_listen",
]

DEFAULT_CONFIG_PATH = Path("/etc/deskphone/deskphone.toml")

TRANSPORTS = ("udp", "tcp", "tls")
DEVICE_MODES = ("pi", "sim")
AUDIO_RATES = (8000, 16000, 48000)
CODECS = ("opus", "G722", "PCMU", "PCMA")
SIM_HOST = "127.0.0.1"  # sim mode never leaves loopback
PI_HOST = "0.0.0.0"


@dataclass(frozen=True)
class Listen:
    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(frozen=True)
class AccountConfig:
    name: str
    registrars: tuple[str, ...]  # primary first, then fail-over registrars
    user: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback
    realm: str | None = None
    transport: str = "udp"
    expires: int = 3600
    # While registered on a fail-over registrar, ask the primary whether it is back this often
    # (OPTIONS, RFC 3261 §11). Deskphone.routing.failover's default; phones commonly use 1-5 min.
    failover_probe_seconds: float = 120.0
    # An unanswered REGISTER fails over after this long instead of after the full Timer F
    # (64*T1 = 32 s, RFC 3261 §17.1.2.2): a desk phone should not sit unreachable for 32 s.
    failover_timeout_seconds: float = 8.0
    # When every registrar failed (or its name did not resolve), the next round waits this long,
    # doubled each round up to 30 min, with jitter: RFC 5626 §4.5's base-time.
    retry_seconds: float = 30.0
    # The voicemail number (keys or a sip: URI, dialled by `*` on the idle screen); set, the
    # account subscribes to its message summary (RFC 3842) unless mwi = false.
    voicemail: str | None = None
    mwi: bool = False


FORWARD_MODES = ("off", "always", "busy", "no_answer")
# Something to dial: keypad keys, or a sip: URI (forward_to, voicemail).
FORWARD_TARGET = r"[0-9*#+]{1,32}|sips?:[^\s<>\"]{1,255}"


@dataclass(frozen=True)
class IdentityConfig:
    user: str = "phone"
    extension: str = "100"
    display_name: str = "Desk phone"


@dataclass(frozen=True)
class SipConfig:
    listen: Listen
    privacy: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    user_agent: str = "deskphone/0.1"
    # RFC 5626 §4.4: a CRLF keep-alive on each registered UDP flow this often (0: none), so the
    # home router keeps the mapping that incoming calls arrive through (UDP timeouts are ~30 s+).
    keepalive_seconds: int = 25
    # RFC 5626 §4.4.2: this often (0: never) an OPTIONS asks the registrar which public mapping
    # the flow has; a new one, or no answer, registers again at once (sip/flow.py).
    flow_check_seconds: int = 120
    # RFC 4028 session timers (sip/session_timer.py): the session interval we offer and accept
    # at most (0: we offer none, but still honour the peer's), and the shortest we accept
    # (Min-SE; §4: never under 90 s). A crashed peer's dialog ends within one interval.
    session_expires: int = 1800
    min_se: int = 90


@dataclass(frozen=True)
class AudioConfig:
    capture: str = "default"
    playback: str = "default"
    capture_file: str | None = None
    playback_file: str | None = None
    rate: int = 8000
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722", "opus")
    # sim: capture_file/playback_file are device nodes the phone never creates; removing one
    # unplugs the handset, recreating it plugs it back (devices/audio_reopen.py).
    device_nodes: bool = False


@dataclass(frozen=True)
class MediaConfig:
    host: str
    port_min: int = 16384
    port_max: int = 16483
    # RFC 3550 / RFC 3264 §5.1: RTCP flows on held (sendonly, recvonly, inactive) streams too, so
    # no RTP, RTCP or ZRTP from the peer for this long means it is gone: the call ends with
    # "Connection lost" and a BYE (calls/liveness.py). 0: never.
    inactivity_timeout: float = 30.0


@dataclass(frozen=True)
class ZrtpSettings:
    # Refuse calls that cannot be secured instead of continuing NOT SECURE.
    require_secure: bool = False
    key_agreements: tuple[str, ...] = ("DPQ1", "X255", "DH3k", "EC25", "DH2k", "EC38")
    sas_types: tuple[str, ...] = ("B32", "B256")
    # Largest ZRTP packet sent; a bigger message (only DPQ1's, 1348 bytes) goes as ZRTP
    # fragments. Lower it on paths that drop IP fragments (some VPNs and firewalls).
    mtu: int = 1452
    # Accepted, but trusts nothing: every SASrelay is refused (RFC 6189 §7.3 needs an enrolment
    # proven by a pbxsecret, §7.3.1, which is not implemented). Kept so old configs still load.
    enrolled_pbx_zids: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class PhoneSettings:
    interdigit_timeout: float = 4.0  # seconds of no key before the number is dialled
    ended_screen_seconds: float = 3.0
    no_answer_seconds: float = 90.0  # a call nobody answers is given up
    ring_seconds: float = 120.0  # a phone nobody picks up stops ringing (480)
    dnd_code: int = 486  # do not disturb rejects with this SIP response (RFC 3261 §21.4/§21.6)
    # Several calls (issue 15): a caller during a call waits (call-waiting tone) unless this is
    # off; in do-not-disturb every caller hears busy; at max_calls calls a new caller hears busy
    # (RFC 3261 §21.4.7), so an INVITE flood never makes more than max_calls - 1 waiting calls.
    call_waiting: bool = True
    dnd: bool = False
    max_calls: int = 2
    # The contacts file (docs/everyday.md); relative to the data directory; None: contacts.txt
    # there.
    contacts_file: Path | None = None
    # Call forwarding at start (phone/forwarding.py): off | always | busy | no_answer, to
    # forward_to (keyed digits or a sip: URI, routed by the dial plan), no_answer after
    # forward_after seconds of ringing.
    forward: str = "off"
    forward_to: str = ""
    forward_after: float = 20.0
    # Hanging up a 3-way conference mixed on this phone: "end" ends both calls, "join" hands
    # one to the other by attended transfer (REFER with Replaces, RFC 5589 §7) first.
    conference_hangup: str = "end"


@dataclass(frozen=True)
class DiscoverySettings:
    enabled: bool = True
    # Interface name or address to announce on (resolved when discovery starts: the names are
    # the phone's, not those of the laptop that checks the file); default the SIP listen host.
    interface: str | None = None


@dataclass(frozen=True)
class Config:
    identity: IdentityConfig
    sip: SipConfig
    accounts: tuple[AccountConfig, ...]
    devices_mode: str
    audio: AudioConfig
    media: MediaConfig
    zrtp: ZrtpSettings
    phone: PhoneSettings
    discovery: DiscoverySettings
    pins: dict[str, Any] = field(default_factory=dict)
    dialplan: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    nat: NatConfig = field(default_factory=NatConfig)


def session_timer_settings(sip_t: dict[str, Any]) -> tuple[int, int]:
    """`[sip] session_expires` (0: off, else 90 s to a day) and `min_se` (RFC 4028 §4: 90 s at
    least), the interval we offer never under the minimum we insist on."""
    min_se = read_int(sip_t, "min_se", "sip", 90, 90, 86400)
    expires = read_int(sip_t, "session_expires", "sip", max(1800, min_se), 0, 86400)
    if 0 < expires < min_se:
        raise ConfigError("sip.session_expires", expires,
                          f"0 (off) or at least sip.min_se ({min_se}) seconds")
    return expires, min_se


def parse_listen(value: Any, key: str = "sip.listen") -> Listen:
    """`transport:host:port`, host may be an [IPv6] reference (RFC 3261 §19.1.1 style)."""
    expected = 'transport:host:port, e.g. "udp:127.0.0.1:5071" (transport udp, tcp or tls)'
    if not isinstance(value, str):
        raise ConfigError(key, value, expected)
    m = re.fullmatch(r"(udp|tcp|tls):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", value)
    if not m:
        raise ConfigError(key, value, expected)
    port = int(m.group(3))
    if not 0 <= port <= 65535:
        raise ConfigError(key, value, "a port from 0 to 65535")
    return Listen(m.group(1), m.group(2).strip("[]"), port)


_HOSTPORT = (r"(sips?:)?([A-Za-z0-9_.\-]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
             r"(:\d{1,5})?(;[^\s]*)?")


def _account(raw: Any, index: int) -> AccountConfig:
    where = f"accounts[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(where, raw, "a table [[accounts]]")
    refuse_unknown_keys(raw, where, {"name", "registrar", "registrars", "user", "password", "realm",
                               "transport", "expires", "failover_probe_seconds",
                               "failover_timeout_seconds", "voicemail", "mwi",
                               "retry_seconds"})
    if "registrars" in raw:
        regs = raw["registrars"]
        if not isinstance(regs, list) or not regs or not all(isinstance(r, str) for r in regs):
            raise ConfigError(f"{where}.registrars", regs, "a non-empty list of host[:port]")
    elif "registrar" in raw:
        regs = [raw["registrar"]]
    else:
        raise ConfigError(f"{where}.registrar", None, "the registrar's host[:port] or sip: URI")
    for reg in regs:
        if not isinstance(reg, str) or not re.fullmatch(_HOSTPORT, reg):
            raise ConfigError(f"{where}.registrar", reg, "host[:port] or a sip:/sips: URI")
    if len(set(regs)) != len(regs):
        raise ConfigError(f"{where}.registrars", regs, "registrars listed once each")
    user = read_str(raw, "user", where, None, pattern=r"[A-Za-z0-9_.!~*'()&=+$,;?/%\-]{1,64}",
                what="a SIP user name (1-64 URI user characters)")
    if user is None:
        raise ConfigError(f"{where}.user", None, "a SIP user name")
    password = read_str(raw, "password", where, "") or ""
    transport = read_str(raw, "transport", where, "udp", pattern="udp|tcp|tls",
                         what="udp, tcp or tls")
    return AccountConfig(
        name=read_str(raw, "name", where, f"account{index + 1}", pattern=r"[A-Za-z0-9_\-]{1,32}",
                  what="a short name (letters, digits, _ -)") or f"account{index + 1}",
        registrars=tuple(regs),
        user=user,
        password=password,
        realm=read_str(raw, "realm", where, None),
        transport=transport or "udp",
        # RFC 3261 sets no floor; the registrar may raise it (Kamailio's min_expires: 60 s).
        expires=read_int(raw, "expires", where, 3600, 10, 86400),
        failover_probe_seconds=read_float(raw, "failover_probe_seconds", where, 120.0, 1.0,
                                          86400.0),
        failover_timeout_seconds=read_float(raw, "failover_timeout_seconds", where, 8.0, 0.5, 32.0),
        voicemail=(voicemail := read_str(
            raw, "voicemail", where, None, pattern=FORWARD_TARGET,
            what="the voicemail number: keypad keys 0-9 * # + or a sip: URI")),
        mwi=read_bool(raw, "mwi", where, voicemail is not None),
        retry_seconds=read_float(raw, "retry_seconds", where, 30.0, 1.0, 1800.0),
    )


def config_from_dict(raw: dict[str, Any], *, sim: bool | None = None,
                     source: Path | None = None) -> Config:
    """Validate a parsed TOML document. `sim` (the --sim flag) overrides [devices] mode."""
    # [network] belongs to first boot (boot/firstboot.py turns it into networkd/wpa_supplicant
    # files and strips it); the phone itself ignores it, so a provisioning file checks clean.
    refuse_unknown_keys(raw, "", {"identity", "sip", "accounts", "devices", "audio", "media",
                                  "zrtp", "phone", "discovery", "pins", "dialplan", "network",
                                  "nat"})
    devices = read_table(raw, "devices")
    refuse_unknown_keys(devices, "devices", {"mode"})
    mode = read_str(devices, "mode", "devices", "pi", pattern="pi|sim",
                    what='"pi" or "sim"') or "pi"
    if sim:
        mode = "sim"  # the --sim flag wins over the file
    default_host = SIM_HOST if mode == "sim" else PI_HOST

    ident = read_table(raw, "identity")
    refuse_unknown_keys(ident, "identity", {"user", "extension", "display_name"})
    identity = IdentityConfig(
        user=read_str(ident, "user", "identity", "phone", pattern=r"[A-Za-z0-9_.!~*'()\-]{1,64}",
                  what="a SIP user name (letters, digits, _ . ! ~ * ' ( ) -)") or "phone",
        extension=read_str(ident, "extension", "identity", "100", pattern=r"[0-9]{1,15}",
                       what="1 to 15 digits") or "100",
        display_name=read_str(ident, "display_name", "identity", "Desk phone",
                          pattern=r"[^\x00-\x1f\"\\]{0,40}",
                          what="up to 40 printable characters without quotes or backslashes")
        or "",
    )

    sip_t = read_table(raw, "sip")
    refuse_unknown_keys(sip_t, "sip", {"listen", "privacy", "tls_ca", "tls_cert", "tls_key",
                                       "user_agent", "keepalive_seconds", "flow_check_seconds",
                                       "session_expires", "min_se"})
    listen = parse_listen(sip_t.get("listen", f"udp:{default_host}:5071"))
    tls_paths = {}
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = read_str(sip_t, key, "sip", None)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"sip.{key}", path, "the path of an existing PEM file")
        tls_paths[key] = path
    session_expires, min_se = session_timer_settings(sip_t)
    sip = SipConfig(listen=listen, privacy=read_bool(sip_t, "privacy", "sip", False),
                    user_agent=read_str(sip_t, "user_agent", "sip", "deskphone/0.1") or "",
                    keepalive_seconds=read_int(sip_t, "keepalive_seconds", "sip", 25, 0, 3600),
                    flow_check_seconds=read_int(sip_t, "flow_check_seconds", "sip", 120, 0,
                                                86400),
                    session_expires=session_expires, min_se=min_se, **tls_paths)

    accounts_raw = raw.get("accounts", [])
    if not isinstance(accounts_raw, list):
        raise ConfigError("accounts", accounts_raw, "an array of tables [[accounts]]")
    accounts = tuple(_account(a, i) for i, a in enumerate(accounts_raw))
    names = [a.name for a in accounts]
    if len(set(names)) != len(names):
        raise ConfigError("accounts.name", names, "distinct account names")

    audio_t = read_table(raw, "audio")
    refuse_unknown_keys(audio_t, "audio", {"capture", "playback", "capture_file", "playback_file",
                                     "rate", "codecs", "device_nodes"})
    rate = audio_t.get("rate", 8000)
    if rate not in AUDIO_RATES or isinstance(rate, bool):
        raise ConfigError("audio.rate", rate, "8000, 16000 or 48000")
    audio = AudioConfig(
        capture=read_str(audio_t, "capture", "audio", "default") or "default",
        playback=read_str(audio_t, "playback", "audio", "default") or "default",
        capture_file=read_str(audio_t, "capture_file", "audio", None),
        playback_file=read_str(audio_t, "playback_file", "audio", None),
        rate=rate,
        codecs=read_choices(audio_t, "codecs", "audio", AudioConfig.codecs, CODECS),
        device_nodes=read_bool(audio_t, "device_nodes", "audio", False),
    )

    media_t = read_table(raw, "media")
    refuse_unknown_keys(media_t, "media", {"host", "port_min", "port_max", "inactivity_timeout"})
    port_min = read_int(media_t, "port_min", "media", 16384, 1024, 65534)
    port_max = read_int(media_t, "port_max", "media", 16483, 1025, 65535)
    if port_max <= port_min:
        raise ConfigError("media.port_max", port_max, f"greater than media.port_min ({port_min})")
    # The media host defaults to the SIP listen host, a wildcard included (the Pi's default):
    # media bound to every address advertise the SIP host in c= (calls/call_media.py), so both
    # follow the network together.
    media = MediaConfig(host=read_str(media_t, "host", "media", listen.host) or listen.host,
                        port_min=port_min, port_max=port_max,
                        inactivity_timeout=read_float(media_t, "inactivity_timeout", "media", 30.0,
                                                  0.0, 3600.0))

    zrtp_t = read_table(raw, "zrtp")
    refuse_unknown_keys(zrtp_t, "zrtp", {"require_secure", "key_agreements", "sas_types",
                                   "enrolled_pbx_zids", "mtu"})
    pbx = zrtp_t.get("enrolled_pbx_zids", [])
    if not isinstance(pbx, list) or not all(
            isinstance(z, str) and re.fullmatch(r"[0-9a-fA-F]{24}", z) for z in pbx):
        raise ConfigError("zrtp.enrolled_pbx_zids", pbx,
                          "a list of ZIDs, each 24 hex digits (96 bits, RFC 6189 §4.9)")
    zrtp = ZrtpSettings(
        require_secure=read_bool(zrtp_t, "require_secure", "zrtp", False),
        key_agreements=read_choices(zrtp_t, "key_agreements", "zrtp",
                                    ZrtpSettings.key_agreements,
                                    ("DPQ1", "X255", "DH3k", "EC25", "DH2k", "EC38")),
        sas_types=read_choices(zrtp_t, "sas_types", "zrtp", ZrtpSettings.sas_types,
                               ("B32", "B256")),
        mtu=read_int(zrtp_t, "mtu", "zrtp", ZrtpSettings.mtu, 600, 65507),
        enrolled_pbx_zids=tuple(bytes.fromhex(z) for z in pbx),
    )

    phone_t = read_table(raw, "phone")
    refuse_unknown_keys(phone_t, "phone", {"interdigit_timeout", "ended_screen_seconds",
                                           "no_answer_seconds", "ring_seconds", "dnd_code",
                                           "call_waiting", "dnd", "max_calls",
                                           "contacts_file", "forward", "forward_to",
                                           "forward_after", "conference_hangup"})
    phone = PhoneSettings(
        interdigit_timeout=read_float(phone_t, "interdigit_timeout", "phone", 4.0, 0.5, 30.0),
        ended_screen_seconds=read_float(phone_t, "ended_screen_seconds", "phone", 3.0, 0.5, 60.0),
        no_answer_seconds=read_float(phone_t, "no_answer_seconds", "phone", 90.0, 1.0, 3600.0),
        ring_seconds=read_float(phone_t, "ring_seconds", "phone", 120.0, 1.0, 3600.0),
        dnd_code=_dnd_code(phone_t),
        call_waiting=read_bool(phone_t, "call_waiting", "phone", True),
        dnd=read_bool(phone_t, "dnd", "phone", False),
        max_calls=read_int(phone_t, "max_calls", "phone", 2, 1, 8),
        contacts_file=_contacts_file(phone_t),
        **_forwarding(phone_t),
        conference_hangup=read_str(phone_t, "conference_hangup", "phone", "end",
                                   pattern="end|join", what='"end" or "join"') or "end",
    )

    disc_t = read_table(raw, "discovery")
    refuse_unknown_keys(disc_t, "discovery", {"enabled", "interface"})
    from deskphone.routing.interfaces import INTERFACE_NAME

    interface = read_str(disc_t, "interface", "discovery", None,
                     what='an interface name ("eth0", "wlan0") or one of its addresses')
    if interface is not None and not (is_address(interface)
                                      or re.fullmatch(INTERFACE_NAME, interface)):
        raise ConfigError("discovery.interface", interface,
                          'an interface name ("eth0", "wlan0") or one of its addresses')
    discovery = DiscoverySettings(enabled=read_bool(disc_t, "enabled", "discovery", True),
                                  interface=interface)

    dialplan_t = read_table(raw, "dialplan")
    try:  # a bad rule is a startup error that names the rule, not a surprise at dialling time
        DialPlan.from_config(dialplan_t, accounts=[a.name for a in accounts])
    except DialPlanError as exc:
        raise ConfigError("dialplan", dialplan_t, f"a valid dial plan ({exc})") from None

    pins = read_table(raw, "pins")
    try:
        load_pinmap(pins)
    except PinMapError as exc:
        raise ConfigError("pins", pins, f"a valid pin map ({exc})") from None
    dialplan = dialplan_t
    return Config(identity=identity, sip=sip, accounts=accounts, devices_mode=mode, audio=audio,
                  media=media, zrtp=zrtp, phone=phone, discovery=discovery, pins=pins,
                  dialplan=dialplan, source=source, nat=parse_nat(read_table(raw, "nat")))


DND_CODES = (480, 486, 600, 603)  # Temporarily Unavailable, Busy Here, Busy/Decline Everywhere


def _dnd_code(t: dict[str, Any]) -> int:
    code = t.get("dnd_code", 486)
    if isinstance(code, bool) or code not in DND_CODES:
        raise ConfigError("phone.dnd_code", code, "one of " + ", ".join(map(str, DND_CODES))
                          + " (a SIP final response that turns a caller away)")
    return int(code)


def _forwarding(t: dict[str, Any]) -> dict[str, Any]:
    mode = t.get("forward", "off")
    if mode not in FORWARD_MODES:
        raise ConfigError("phone.forward", mode, "one of " + ", ".join(FORWARD_MODES))
    target = t.get("forward_to", "")
    if mode != "off" or target:
        if not isinstance(target, str) or not re.fullmatch(FORWARD_TARGET, target):
            raise ConfigError("phone.forward_to", target, "where forwarded calls go: keypad "
                              "keys 0-9 * # + or a sip: URI (routed by the dial plan)")
    after = read_float(t, "forward_after", "phone", 20.0, 1.0, 600.0)
    return {"forward": mode, "forward_to": target, "forward_after": after}


def _contacts_file(t: dict[str, Any]) -> Path | None:
    value = t.get("contacts_file")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 4096 \
            or not value.isprintable() or value.endswith("/"):
        raise ConfigError("phone.contacts_file", value, "a file's path (absolute, or relative to "
                          "the data directory), e.g. \"/etc/deskphone/contacts.txt\"")
    return Path(value)


def load_config(path: Path | None, *, sim: bool | None = None) -> Config:
    """Read and validate the config file. A missing default file means LAN defaults."""
    default = path is None
    if path is None:
        path = DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if default:
            return config_from_dict({}, sim=sim)
        raise ConfigError("--config", str(path), "an existing TOML file") from None
    except PermissionError:
        raise ConfigError("--config", str(path), _readable_by_us(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", str(path), f"a readable UTF-8 file ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"valid TOML ({exc})") from None
    return config_from_dict(raw, sim=sim, source=path)


def _readable_by_us(path: Path) -> str:
    """What to do about a config file (or its folder) this user may not read."""
    import grp
    import pwd

    def owner(p: Path) -> str:
        try:
            st = p.stat()
        except OSError:
            return "not reachable"
        try:
            user = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            user = str(st.st_uid)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        return f"{user}:{group} {st.st_mode & 0o7777:04o}"

    try:
        me = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        me = f"uid {os.geteuid()}"
    return (f"a file user {me} can read (permission denied; the file is {owner(path)}, its "
            f"folder {owner(path.parent)}): make it e.g. root:{me} 0640 in a 0755 folder")


def default_data_dir() -> Path:
    """/var/lib/deskphone for root (systemd StateDirectory), else the XDG state dir."""
    if os.geteuid() == 0:
        return Path("/var/lib/deskphone")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "deskphone"
