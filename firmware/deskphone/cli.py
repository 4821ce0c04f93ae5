"""`deskphone` command line: run the phone, talk to a running one, check a config file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from deskphone.config import Config, ConfigError, default_data_dir, load_config
from deskphone.control import ControlError, request


def default_control_path(data_dir: Path) -> Path:
    return data_dir / "control.sock"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="TOML config file (default /etc/deskphone/deskphone.toml; none → LAN "
                        "defaults)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="state: ZRTP cache, call log (default /var/lib/deskphone, or the XDG "
                        "state dir when not root)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskphone", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the phone")
    _add_common(run)
    run.add_argument("--sim", action="store_true", help="simulated devices (no Pi needed)")
    run.add_argument("--control", type=Path, default=None,
                     help="control socket path (default DATA_DIR/control.sock)")
    run.add_argument("--no-terminal", action="store_true",
                     help="do not draw the simulated OLED in this terminal")
    run.add_argument("--log-level", default=os.environ.get("DESKPHONE_LOG", "WARNING"))

    ctl = sub.add_parser("ctl", help="send one command to a running phone and print the reply")
    ctl.add_argument("--control", type=Path, default=None)
    ctl.add_argument("--data-dir", type=Path, default=None)
    ctl.add_argument("--timeout", type=float, default=30.0)
    ctl.add_argument("words", nargs=argparse.REMAINDER,
                     help="hook off|on, press KEYS, dial TARGET, hangup, confirm-sas, "
                          "reject-sas, hold, screenshot FILE, state, wait KEY=VALUE..., help")

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", type=Path)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        try:
            load_config(args.file)
        except ConfigError as exc:
            print(f"deskphone: {exc}", file=sys.stderr)
            return 2
        print(f"{args.file}: ok")
        return 0
    if args.command == "ctl":
        return _ctl(args)
    if args.command == "run":
        return _run(args)
    return 2


def _ctl(args: argparse.Namespace) -> int:
    path = args.control or default_control_path(args.data_dir or default_data_dir())
    if args.control is None and args.data_dir is None and not path.exists():
        # `make run` phones live in slots (sim1, sim2...): the first one answers by default.
        slot = default_control_path(default_data_dir() / "sim1")
        path = slot if slot.exists() else path
    if not args.words:
        print("deskphone ctl: no command given; try 'deskphone ctl help'", file=sys.stderr)
        return 2
    import shlex

    line = shlex.join(args.words)
    try:
        reply = request(path, line, timeout=args.timeout)
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
