"""The phone's configuration: one TOML file, validated into frozen dataclasses.

No file at all gives working LAN defaults (serverless calling by extension over DNS-SD). Every
validation error names the key, the bad value and what was expected, so a person editing the file
on a laptop before first boot can fix it without reading code.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deskphone.devices.pinmap import PinMapError, load_pinmap
from deskphone.routing.dialplan import DialPlan, DialPlanError

DEFAULT_CONFIG_PATH = Path("/etc/deskphone/deskphone.toml")

TRANSPORTS = ("udp", "tcp", "tls")
DEVICE_MODES = ("pi", "sim")
AUDIO_RATES = (8000, 16000, 48000)
CODECS = ("opus", "G722", "PCMU", "PCMA")
SIM_HOST = "127.0.0.1"  # sim mode never leaves loopback
PI_HOST = "0.0.0.0"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names key, value and what is expected."""

    def __init__(self, key: str, value: Any, expected: str, *, message: str | None = None) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(message or f"config: {key} = {value!r}: expected {expected}")


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


@dataclass(frozen=True)
class AudioConfig:
    capture: str = "default"
    playback: str = "default"
    capture_file: str | None = None
    playback_file: str | None = None
    rate: int = 8000
    codecs: tuple[str, ...] = ("PCMU", "PCMA", "G722", "opus")


@dataclass(frozen=True)
class MediaConfig:
    host: str
    port_min: int = 16384
    port_max: int = 16483


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


@dataclass(frozen=True)
class DiscoverySettings:
    enabled: bool = True
    # Interface name or address to announce on (resolved when discovery starts: the names are
    # the phone's, not those of the laptop that checks the file); default the SIP listen host.
    interface: str | None = None


@dataclass(frozen=True)
class TurnServerConfig:
    host: str
    port: int
    transport: str  # "udp" or "tcp" (RFC 7065 ?transport=)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"turn:{host}:{self.port}?transport={self.transport}"


@dataclass(frozen=True)
class NatConfig:
    """[nat]: the STUN and TURN servers ICE gathers from. Empty: host candidates only."""

    stun: tuple[str, int] | None = None
    turn: tuple[TurnServerConfig, ...] = ()
    turn_user: str | None = None
    turn_password: str | None = field(default=None, repr=False)  # never in a log or repr

    @property
    def configured(self) -> bool:
        return self.stun is not None or bool(self.turn)


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


# -- small typed readers ---------------------------------------------------------------------


def _table(raw: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}", value, "a table [" + f"{where}{key}" + "]")
    return value


def _str(t: dict[str, Any], key: str, where: str, default: str | None, *,
         pattern: str | None = None, what: str = "a string") -> str | None:
    value = t.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}", value, what)
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"{where}.{key}", value, what)
    return value


def _int(t: dict[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{key}", value, f"a whole number from {lo} to {hi}")
    return value


def _float(t: dict[str, Any], key: str, where: str, default: float, lo: float, hi: float) -> float:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{key}", value, f"a number of seconds from {lo} to {hi}")
    return float(value)


def _bool(t: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}", value, "true or false")
    return value


def _choices(t: dict[str, Any], key: str, where: str, default: tuple[str, ...],
             allowed: tuple[str, ...]) -> tuple[str, ...]:
    value = t.get(key, list(default))
    if (not isinstance(value, list) or not value
            or any(v not in allowed for v in value) or len(set(value)) != len(value)):
        raise ConfigError(f"{where}.{key}", value,
                          "a non-empty list without repeats of " + ", ".join(allowed))
    return tuple(value)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _unknown_keys(t: dict[str, Any], where: str, known: set[str]) -> None:
    for key in t:
        if key not in known:
            # A typo is the usual cause: name the nearest key first (`registar` → `registrar`).
            nearest = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {nearest[0]!r}? " if nearest else ""
            name = f"{where}.{key}" if where else key
            known_list = ", ".join(sorted(known))
            raise ConfigError(name, t[key], "one of the known keys: " + known_list,
                              message=f"config: {name}: unknown key; {hint}(expected one "
                                      f"of: {known_list})")


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
    _unknown_keys(raw, where, {"name", "registrar", "registrars", "user", "password", "realm",
                               "transport", "expires", "failover_probe_seconds",
                               "failover_timeout_seconds"})
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
    user = _str(raw, "user", where, None, pattern=r"[A-Za-z0-9_.!~*'()&=+$,;?/%\-]{1,64}",
                what="a SIP user name (1-64 URI user characters)")
    if user is None:
        raise ConfigError(f"{where}.user", None, "a SIP user name")
    password = _str(raw, "password", where, "") or ""
    transport = _str(raw, "transport", where, "udp", pattern="udp|tcp|tls", what="udp, tcp or tls")
    return AccountConfig(
        name=_str(raw, "name", where, f"account{index + 1}", pattern=r"[A-Za-z0-9_\-]{1,32}",
                  what="a short name (letters, digits, _ -)") or f"account{index + 1}",
        registrars=tuple(regs),
        user=user,
        password=password,
        realm=_str(raw, "realm", where, None),
        transport=transport or "udp",
        # RFC 3261 sets no floor; the registrar may raise it (Kamailio's min_expires: 60 s).
        expires=_int(raw, "expires", where, 3600, 10, 86400),
        failover_probe_seconds=_float(raw, "failover_probe_seconds", where, 120.0, 1.0, 86400.0),
        failover_timeout_seconds=_float(raw, "failover_timeout_seconds", where, 8.0, 0.5, 32.0),
    )


def config_from_dict(raw: dict[str, Any], *, sim: bool | None = None,
                     source: Path | None = None) -> Config:
    """Validate a parsed TOML document. `sim` (the --sim flag) overrides [devices] mode."""
    # [network] belongs to first boot (boot/firstboot.py turns it into networkd/wpa_supplicant
    # files and strips it); the phone itself ignores it, so a provisioning file checks clean.
    _unknown_keys(raw, "", {"identity", "sip", "accounts", "devices", "audio", "media", "zrtp",
                            "phone", "discovery", "pins", "dialplan", "network", "nat"})
    devices = _table(raw, "devices")
    _unknown_keys(devices, "devices", {"mode"})
    mode = _str(devices, "mode", "devices", "pi", pattern="pi|sim", what='"pi" or "sim"') or "pi"
    if sim:
        mode = "sim"  # the --sim flag wins over the file
    default_host = SIM_HOST if mode == "sim" else PI_HOST

    ident = _table(raw, "identity")
    _unknown_keys(ident, "identity", {"user", "extension", "display_name"})
    identity = IdentityConfig(
        user=_str(ident, "user", "identity", "phone", pattern=r"[A-Za-z0-9_.!~*'()\-]{1,64}",
                  what="a SIP user name (letters, digits, _ . ! ~ * ' ( ) -)") or "phone",
        extension=_str(ident, "extension", "identity", "100", pattern=r"[0-9]{1,15}",
                       what="1 to 15 digits") or "100",
        display_name=_str(ident, "display_name", "identity", "Desk phone",
                          pattern=r"[^\x00-\x1f\"\\]{0,40}",
                          what="up to 40 printable characters without quotes or backslashes")
        or "",
    )

    sip_t = _table(raw, "sip")
    _unknown_keys(sip_t, "sip", {"listen", "privacy", "tls_ca", "tls_cert", "tls_key",
                                 "user_agent", "keepalive_seconds"})
    listen = parse_listen(sip_t.get("listen", f"udp:{default_host}:5071"))
    tls_paths = {}
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = _str(sip_t, key, "sip", None)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"sip.{key}", path, "the path of an existing PEM file")
        tls_paths[key] = path
    sip = SipConfig(listen=listen, privacy=_bool(sip_t, "privacy", "sip", False),
                    user_agent=_str(sip_t, "user_agent", "sip", "deskphone/0.1") or "",
                    keepalive_seconds=_int(sip_t, "keepalive_seconds", "sip", 25, 0, 3600),
                    **tls_paths)

    accounts_raw = raw.get("accounts", [])
    if not isinstance(accounts_raw, list):
        raise ConfigError("accounts", accounts_raw, "an array of tables [[accounts]]")
    accounts = tuple(_account(a, i) for i, a in enumerate(accounts_raw))
    names = [a.name for a in accounts]
    if len(set(names)) != len(names):
        raise ConfigError("accounts.name", names, "distinct account names")

    audio_t = _table(raw, "audio")
    _unknown_keys(audio_t, "audio", {"capture", "playback", "capture_file", "playback_file",
                                     "rate", "codecs"})
    rate = audio_t.get("rate", 8000)
    if rate not in AUDIO_RATES or isinstance(rate, bool):
        raise ConfigError("audio.rate", rate, "8000, 16000 or 48000")
    audio = AudioConfig(
        capture=_str(audio_t, "capture", "audio", "default") or "default",
        playback=_str(audio_t, "playback", "audio", "default") or "default",
        capture_file=_str(audio_t, "capture_file", "audio", None),
        playback_file=_str(audio_t, "playback_file", "audio", None),
        rate=rate,
        codecs=_choices(audio_t, "codecs", "audio", AudioConfig.codecs, CODECS),
    )

    media_t = _table(raw, "media")
    _unknown_keys(media_t, "media", {"host", "port_min", "port_max"})
    port_min = _int(media_t, "port_min", "media", 16384, 1024, 65534)
    port_max = _int(media_t, "port_max", "media", 16483, 1025, 65535)
    if port_max <= port_min:
        raise ConfigError("media.port_max", port_max, f"greater than media.port_min ({port_min})")
    media = MediaConfig(host=_str(media_t, "host", "media", listen.host if listen.host not in
                                  ("0.0.0.0", "::") else default_host) or default_host,
                        port_min=port_min, port_max=port_max)

    zrtp_t = _table(raw, "zrtp")
    _unknown_keys(zrtp_t, "zrtp", {"require_secure", "key_agreements", "sas_types",
                                   "enrolled_pbx_zids", "mtu"})
    pbx = zrtp_t.get("enrolled_pbx_zids", [])
    if not isinstance(pbx, list) or not all(
            isinstance(z, str) and re.fullmatch(r"[0-9a-fA-F]{24}", z) for z in pbx):
        raise ConfigError("zrtp.enrolled_pbx_zids", pbx,
                          "a list of ZIDs, each 24 hex digits (96 bits, RFC 6189 §4.9)")
    zrtp = ZrtpSettings(
        require_secure=_bool(zrtp_t, "require_secure", "zrtp", False),
        key_agreements=_choices(zrtp_t, "key_agreements", "zrtp", ZrtpSettings.key_agreements,
                                ("DPQ1", "X255", "DH3k", "EC25", "DH2k", "EC38")),
        sas_types=_choices(zrtp_t, "sas_types", "zrtp", ZrtpSettings.sas_types, ("B32", "B256")),
        mtu=_int(zrtp_t, "mtu", "zrtp", ZrtpSettings.mtu, 600, 65507),
        enrolled_pbx_zids=tuple(bytes.fromhex(z) for z in pbx),
    )

    phone_t = _table(raw, "phone")
    _unknown_keys(phone_t, "phone", {"interdigit_timeout", "ended_screen_seconds",
                                     "no_answer_seconds", "ring_seconds", "dnd_code"})
    phone = PhoneSettings(
        interdigit_timeout=_float(phone_t, "interdigit_timeout", "phone", 4.0, 0.5, 30.0),
        ended_screen_seconds=_float(phone_t, "ended_screen_seconds", "phone", 3.0, 0.5, 60.0),
        no_answer_seconds=_float(phone_t, "no_answer_seconds", "phone", 90.0, 1.0, 3600.0),
        ring_seconds=_float(phone_t, "ring_seconds", "phone", 120.0, 1.0, 3600.0),
        dnd_code=_dnd_code(phone_t),
    )

    disc_t = _table(raw, "discovery")
    _unknown_keys(disc_t, "discovery", {"enabled", "interface"})
    from deskphone.routing.interfaces import INTERFACE_NAME

    interface = _str(disc_t, "interface", "discovery", None,
                     what='an interface name ("eth0", "wlan0") or one of its addresses')
    if interface is not None and not (_is_address(interface)
                                      or re.fullmatch(INTERFACE_NAME, interface)):
        raise ConfigError("discovery.interface", interface,
                          'an interface name ("eth0", "wlan0") or one of its addresses')
    discovery = DiscoverySettings(enabled=_bool(disc_t, "enabled", "discovery", True),
                                  interface=interface)

    dialplan_t = _table(raw, "dialplan")
    try:  # a bad rule is a startup error that names the rule, not a surprise at dialling time
        DialPlan.from_config(dialplan_t, accounts=[a.name for a in accounts])
    except DialPlanError as exc:
        raise ConfigError("dialplan", dialplan_t, f"a valid dial plan ({exc})") from None

    pins = _table(raw, "pins")
    try:
        load_pinmap(pins)
    except PinMapError as exc:
        raise ConfigError("pins", pins, f"a valid pin map ({exc})") from None
    dialplan = dialplan_t
    return Config(identity=identity, sip=sip, accounts=accounts, devices_mode=mode, audio=audio,
                  media=media, zrtp=zrtp, phone=phone, discovery=discovery, pins=pins,
                  dialplan=dialplan, source=source, nat=_nat(_table(raw, "nat")))


DND_CODES = (480, 486, 600, 603)  # Temporarily Unavailable, Busy Here, Busy/Decline Everywhere


def _dnd_code(t: dict[str, Any]) -> int:
    code = t.get("dnd_code", 486)
    if isinstance(code, bool) or code not in DND_CODES:
        raise ConfigError("phone.dnd_code", code, "one of " + ", ".join(map(str, DND_CODES))
                          + " (a SIP final response that turns a caller away)")
    return int(code)


# -- [nat] -----------------------------------------------------------------------------------

STUN_PORT = 3478  # RFC 8489 §18.6 (and TURN's, RFC 8656 §18)
_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252}[A-Za-z0-9])?)"
_STUN_EXPECTED = 'host[:port] or stun:host[:port], e.g. "stun.example.org:3478"'
_TURN_EXPECTED = ('a TURN URI turn:host[:port][?transport=udp|tcp] (RFC 7065), e.g. '
                  '"turn:turn.example.org:3478?transport=udp"')


def _port(key: str, value: str, text: str | None) -> int:
    if text is None:
        return STUN_PORT
    port = int(text)
    if not 1 <= port <= 65535:
        raise ConfigError(key, value, "a port from 1 to 65535")
    return port


def _stun_server(value: Any) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ConfigError("nat.stun", value, _STUN_EXPECTED)
    m = re.fullmatch(rf"(?:stun:)?{_HOST}(?::(\d{{1,5}}))?", value)
    if not m:
        raise ConfigError("nat.stun", value, _STUN_EXPECTED)
    return m.group(1).strip("[]"), _port("nat.stun", value, m.group(2))


def _turn_server(value: Any, key: str) -> TurnServerConfig:
    if not isinstance(value, str):
        raise ConfigError(key, value, _TURN_EXPECTED)
    m = re.fullmatch(rf"turn:{_HOST}(?::(\d{{1,5}}))?(?:\?transport=(udp|tcp))?", value)
    if not m:
        if value.startswith("turns:"):
            raise ConfigError(key, value, "turn: (TURN over TLS, turns:, is not supported)")
        raise ConfigError(key, value, _TURN_EXPECTED)
    return TurnServerConfig(m.group(1).strip("[]"), _port(key, value, m.group(2)),
                            m.group(3) or "udp")


def _nat(t: dict[str, Any]) -> NatConfig:
    _unknown_keys(t, "nat", {"stun", "turn", "turn_user", "turn_password"})
    stun = _stun_server(t["stun"]) if "stun" in t else None
    turn_raw = t.get("turn", [])
    if isinstance(turn_raw, str):
        turn_raw = [turn_raw]
    if not isinstance(turn_raw, list):
        raise ConfigError("nat.turn", turn_raw, "a TURN URI or a list of them")
    turn = tuple(_turn_server(v, f"nat.turn[{i}]") for i, v in enumerate(turn_raw))
    if len(set(turn)) != len(turn):
        raise ConfigError("nat.turn", turn_raw, "each TURN URI listed once")
    user = _str(t, "turn_user", "nat", None, pattern=r"[^\x00-\x1f\x7f]{1,128}",
                what="a TURN user name (1-128 printable characters)")
    password = t.get("turn_password")
    # The password's value never goes into an error message: the key and the rule only.
    if password is not None and (not isinstance(password, str)
                                 or not re.fullmatch(r"[^\x00-\x1f\x7f]{1,256}", password)):
        raise ConfigError("nat.turn_password", "(hidden)", "1-256 printable characters")
    if turn and (user is None or password is None):
        missing = "nat.turn_user" if user is None else "nat.turn_password"
        raise ConfigError(missing, None, "the TURN long-term credentials (RFC 8489 §9.2) when "
                          "nat.turn is set")
    if not turn and (user is not None or password is not None):
        key = "nat.turn_user" if user is not None else "nat.turn_password"
        raise ConfigError(key, user if user is not None else "(hidden)",
                          "to be set only together with nat.turn")
    return NatConfig(stun=stun, turn=turn, turn_user=user, turn_password=password)


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
