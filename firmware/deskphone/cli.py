"""`deskphone` command line: run the phone, talk to a running one, check a config file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from deskphone.config import Config, ConfigError, default_data_dir, load_config
from deskphone.control import ControlError, help_text, request


def default_control_path(data_dir: Path) -> Path:
    return data_dir / "control.sock"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="TOML config file (default /etc/deskphone/deskphone.toml; none → LAN "
                        "defaults)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="state: ZRTP cache, call log (default /var/lib/deskphone, or the XDG "
                        "state dir when not root)")


RUN_EXAMPLES = """\
examples:
  deskphone run --sim                      the simulator in this terminal (what make run does)
  deskphone run --sim --control /tmp/p/ctl.sock --no-terminal &
                                           a phone scripted through its control socket
  deskphone run --config /etc/deskphone/deskphone.toml
                                           the real phone (what the Pi's systemd unit runs)
"""

CTL_EXAMPLES = """\
examples:
  deskphone ctl help                       the commands (no phone needed)
  deskphone ctl state                      the first make-run phone's state as JSON
  deskphone ctl --control /tmp/p/ctl.sock hook off
  deskphone ctl --control /tmp/p/ctl.sock press 202#
  deskphone ctl --control /tmp/p/ctl.sock wait call=in_call security=secure timeout=10
"""

CHECK_EXAMPLES = """\
examples:
  deskphone check-config /etc/deskphone/deskphone.toml
  deskphone check-config deskphone.toml    a wrong key or value: its name, what was expected
                                           and the nearest known key; exit status 2
"""


def _subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str,
                examples: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".",
                          epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deskphone", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  deskphone run --sim\n  deskphone ctl help\n"
               "  deskphone check-config deskphone.toml\n\n"
               "'deskphone COMMAND --help' shows each command's options and examples.\n")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _subcommand(sub, "run", "run the phone", RUN_EXAMPLES)
    _add_common(run)
    run.add_argument("--sim", action="store_true", help="simulated devices (no Pi needed)")
    run.add_argument("--control", type=Path, default=None,
                     help="control socket path (default DATA_DIR/control.sock)")
    run.add_argument("--no-terminal", action="store_true",
                     help="do not draw the simulated OLED in this terminal")
    run.add_argument("--log-level", default=os.environ.get("DESKPHONE_LOG", "WARNING"),
                     help="DEBUG, INFO, WARNING (default; env DESKPHONE_LOG) or ERROR")

    ctl = _subcommand(sub, "ctl", "send one command to a running phone and print the reply",
                      CTL_EXAMPLES + "\n" + help_text())
    ctl.add_argument("--control", type=Path, default=None,
                     help="the phone's control socket (default: the first make-run phone's)")
    ctl.add_argument("--data-dir", type=Path, default=None,
                     help="the phone's data dir; its control.sock is used")
    ctl.add_argument("--timeout", type=float, default=30.0,
                     help="seconds to wait for the reply (default 30)")
    ctl.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                     help="a command and its arguments (listed below; 'help' needs no phone)")

    check = _subcommand(sub, "check-config", "validate a config file and exit", CHECK_EXAMPLES)
    check.add_argument("file", type=Path, help="the TOML file to check")

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        try:
            config = load_config(args.file)
        except ConfigError as exc:
            print(f"deskphone: {exc}", file=sys.stderr)
            return 2
        _note_discovery_interface(config)
        print(f"{args.file}: ok")
        return 0
    if args.command == "ctl":
        return _ctl(args)
    if args.command == "run":
        return _run(args)
    return 2


def _note_discovery_interface(config: Config) -> None:
    """The interface names are the phone's: a file checked on another machine may name one this
    machine lacks. Say so (with the interfaces here) without failing the check."""
    if not config.discovery.interface:
        return
    from deskphone.routing.interfaces import InterfaceError, discovery_address

    try:
        discovery_address(config.discovery.interface)
    except InterfaceError as exc:
        print(f"deskphone: note: on this machine {exc}; the phone turns LAN discovery off when "
              "it has no such interface either", file=sys.stderr)


def _ctl(args: argparse.Namespace) -> int:
    def control_path() -> Path:
        path: Path = args.control or default_control_path(args.data_dir or default_data_dir())
        if args.control is None and args.data_dir is None and not path.exists():
            # `make run` phones live in slots (sim1, sim2...): the first one answers by default.
            slot = default_control_path(default_data_dir() / "sim1")
            path = slot if slot.exists() else path
        return path

    path = control_path()
    if not args.words or args.words == ["help"]:
        # The command list is the same table the phone answers `help` with: no phone needed.
        print(help_text(), file=sys.stdout if args.words else sys.stderr)
        return 0 if args.words else 2
    import shlex

    line = shlex.join(args.words)
    # `wait` also waits for a phone that is still starting (its socket not there yet), within
    # the wait's own timeout: `deskphone run ... &` then `deskphone ctl wait ...` just works.
    starting = _wait_timeout(args.words) if args.words[0] == "wait" else 0.0
    deadline = time.monotonic() + starting
    while True:
        try:
            reply = request(path, line, timeout=args.timeout)
            break
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                path = control_path()  # a make-run phone's slot appears once it is up
                continue
            print(f"deskphone ctl: cannot reach the phone at {path}: {exc}", file=sys.stderr)
            return 3
        except (OSError, ControlError) as exc:
            print(f"deskphone ctl: cannot reach the phone at {path}: {exc}", file=sys.stderr)
            return 3
    if not reply.get("ok"):
        print(f"deskphone ctl: {reply.get('error')}", file=sys.stderr)
        return 1
    result = reply.get("result")
    if isinstance(result, str):
        print(result)
    elif result is not None:
        print(json.dumps(result, ensure_ascii=False))
    return 0


def _wait_timeout(words: list[str]) -> float:
    for word in words[1:]:
        key, _, value = word.partition("=")
        if key == "timeout":
            try:
                return min(float(value), 600.0)
            except ValueError:
                return 0.0  # the phone's own reply names the bad value
    return 10.0  # the phone's default for wait


_held_locks: list[object] = []  # slot locks live as long as the process


def claim_sim_slot(base: Path, config: Config) -> tuple[Path, Config]:
    import fcntl
    from dataclasses import replace

    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for slot in range(1, 100):
        slot_dir = base / f"sim{slot}"
        slot_dir.mkdir(exist_ok=True, mode=0o700)
        lock = open(slot_dir / "lock", "w")  # noqa: SIM115 — held until exit
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _held_locks.append(lock)
        identity = replace(config.identity, extension=str(200 + slot))
        listen = replace(config.sip.listen, port=5070 + slot)
        return slot_dir, replace(config, identity=identity, sip=replace(config.sip, listen=listen))
    raise OSError(f"no free simulator slot under {base} (99 phones already running?)")


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, sim=args.sim or None)
    except ConfigError as exc:
        print(f"deskphone: {exc}", file=sys.stderr)
        return 2
    data_dir = args.data_dir or default_data_dir()
    if args.data_dir is None and args.config is None and config.devices_mode == "sim":
        # `make run` in two terminals gives two phones: each takes the first free slot, with
        # its own state, extension (201, 202...) and SIP port (5071, 5072...).
        try:
            data_dir, config = claim_sim_slot(data_dir, config)
        except OSError as exc:
            print(f"deskphone: {exc}", file=sys.stderr)
            return 2
    from deskphone.startup import StartupError, check_data_dir, explain

    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_data_dir(data_dir)  # a full or read-only disk now, not mid-call
    except (OSError, StartupError) as exc:
        print(f"deskphone: cannot start: {explain(exc, subject=f'--data-dir {data_dir}')}",
              file=sys.stderr)
        return 2
    control = args.control or default_control_path(data_dir)
    terminal = (config.devices_mode == "sim" and not args.no_terminal and sys.stdin.isatty()
                and sys.stdout.isatty())
    try:
        from deskphone.run import run_phone  # the whole phone: not loaded for `ctl`

        return run_phone(config, data_dir=data_dir, control_path=control, terminal=terminal)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # whatever startup did not foresee: still one line, no traceback
        logging.getLogger("deskphone").debug("the phone failed", exc_info=True)
        print(f"deskphone: failed: {explain(exc, data_dir=data_dir)} (details with "
              "--log-level DEBUG)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
