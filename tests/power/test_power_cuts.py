"""Issue 16 item 5: kill -9 at many points of every durable write; each file is old or new after.

The firmware's durable writes are the ZRTP retained-secret cache (SQLite, zrtp/cache.py, written
from zrtp/writer.py's worker thread with the same statements), and the files the first-boot
script writes through deskphone.storage.atomic_write_* (the phone's config, the networkd and
wpa_supplicant files, the host name, the report on the card), and what the phone rewrites at run
time through the same atomic writes: the call history (history.jsonl, phone_files.HistoryKeeper)
and the settings the person changes on the phone (settings.json: the volumes, VolumeKeeper).

Each test runs the real writer in a child process and sends it SIGKILL at a different moment each
round — after a varied number of completed writes, plus a varied fraction of one write's time, so
that the signal lands in every phase (open, write, fsync, rename, commit) over the rounds — then
checks, as the phone would after its restart, that the file is whole and holds either everything
completed before the cut or that plus the write in flight. (kill -9 loses no page cache; that
the data also reach the disk before the rename is fsync's job, checked in tests/boot/test_storage.)
The sleep before each kill only moves where it lands; nothing waits on time for correctness.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deskphone.phone.history import MAX_ENTRIES, parse_history
from deskphone.phone_files import VolumeKeeper
from deskphone.storage import atomic_write_bytes
from deskphone.zrtp.cache import ZrtpCache
from tests.boot.bootmods import BOOT
from tests.power.writers import (
    PEERS,
    Model,
    content,
    model_zrtp,
    parse_content,
    volume_change,
)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 30


def cut(argv: list[str], *, writes: int, within: float, may_finish: bool = False) -> list[str]:
    """Start `argv`, wait for its first line and `writes` more (none for -1), sleep `within`
    seconds, SIGKILL it; every line it printed. `may_finish`: a run that ends by itself first
    is fine (the cut came after its last write)."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout is not None
    lines: list[str] = []
    try:
        for _ in range(1 + writes):
            line = child.stdout.readline()
            if not line.endswith("\n"):
                break  # it died (a cut line is not a completed write)
            lines.append(line.strip())
        if within:
            time.sleep(within)  # where the signal lands, not a wait for a result
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    rest = child.stdout.read()  # what it wrote to the pipe before it died, whole lines only
    lines += rest.splitlines()[:None if rest.endswith("\n") else -1]
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL or (may_finish and child.returncode == 0), (
        child.returncode, lines)
    return lines


def last_done(lines: list[str]) -> int | None:
    done = [int(line.split()[1]) for line in lines if line.startswith("done ")]
    return done[-1] if done else None


def writer(kind: str, path: Path, first: int) -> list[str]:
    return [sys.executable, "-m", "tests.power.writers", kind, str(path), str(first)]


def cache_state(path: Path) -> Model:
    with ZrtpCache(path) as cache:
        assert cache.integrity_ok()
        state: Model = {}
        for peer in PEERS:
            entry = cache.lookup(peer)
            if entry is not None:
                state[peer] = (entry.rs1, entry.rs2, entry.verified)
        assert set(cache.peers()) == set(state)
        return state


def test_zrtp_cache_killed_at_many_points_holds_old_or_new_and_keeps_its_zid(tmp_path):
    path = tmp_path / "zrtp.sqlite"
    rng = random.Random(16)
    model: Model = {}
    zid: str | None = None
    first = 0
    landed_in_flight = 0
    for round_ in range(ROUNDS):
        # round 0 cuts the creation of the file itself (schema, our ZID)
        writes = 0 if round_ == 0 else rng.randrange(0, 12)
        lines = cut(writer("zrtp", path, first), writes=writes,
                    within=rng.uniform(0, 0.004))
        zids = [line.split()[1] for line in lines if line.startswith("zid ")]
        if zids:  # RFC 6189 §4.9: the ZID, once made, is ours for good
            assert zid is None or zids[0] == zid, (zid, zids)
            zid = zids[0]
        done = last_done(lines)
        if done is not None:
            for i in range(first, done + 1):
                model = model_zrtp(model, i)
            first = done + 1
        state = cache_state(path)
        with_flight = model_zrtp(model, first)
        assert state in (model, with_flight), (round_, first, state, model, with_flight)
        if state == with_flight and state != model:
            landed_in_flight += 1
        model = state
        first += 1  # the write in flight either landed (adopted) or never will
    with ZrtpCache(path) as cache:
        assert zid is not None and cache.local_zid().hex() == zid
    # The cuts did land inside writes, not only between them.
    assert landed_in_flight > 0


def leftovers(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def test_atomic_write_killed_at_many_points_leaves_old_or_new_and_no_pile_of_temp_files(tmp_path):
    path = tmp_path / "deskphone.toml"
    atomic_write_bytes(path, content(0), mode=0o640)
    rng = random.Random(21)
    in_file, start = 0, 1  # the version the file holds; where the next child starts
    temp_left = 0
    for round_ in range(ROUNDS):
        lines = cut(writer("atomic", path, start), writes=rng.randrange(0, 6),
                    within=rng.uniform(0, 0.003))
        done = last_done(lines)
        floor = in_file if done is None else done
        in_flight = start if done is None else done + 1
        found = parse_content(path.read_bytes())  # whole: header, length and hash agree
        assert found in (floor, in_flight), (round_, floor, in_flight, found)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        # A cut before the rename leaves its temporary file; the next write clears it.
        left = leftovers(path)
        assert len(left) <= 1, left
        temp_left += len(left)
        in_file, start = found, in_flight + 1
    atomic_write_bytes(path, content(start), mode=0o640)
    assert leftovers(path) == [] and parse_content(path.read_bytes()) == start
    assert temp_left > 0  # some cuts did land between mkstemp and rename


def history_calls(path: Path) -> list[int]:
    """The calls the history file holds, oldest first, as the phone reads it at start: every
    line must parse (a torn file would cost lines)."""
    history, errors = parse_history(path.read_text(), str(path))
    assert errors == [], errors
    return [int(r.peer.split(":")[1].split("@")[0]) for r in reversed(history.newest_first())]


def test_call_history_killed_at_many_points_holds_the_calls_before_the_cut_or_one_more(tmp_path):
    path = tmp_path / "history.jsonl"
    rng = random.Random(44)
    held: list[int] = []  # the calls the file held after the last round, oldest first
    start = 0  # the next child's first call
    landed_in_flight = 0
    for round_ in range(ROUNDS):
        # round 0 cuts the very first write (no file yet); later rounds pass MAX_ENTRIES calls,
        # where each write also drops the oldest one
        writes = 0 if round_ == 0 else rng.randrange(0, 12)
        lines = cut(writer("history", path, start), writes=writes, within=rng.uniform(0, 0.004))
        done = last_done(lines)
        in_flight = start if done is None else done + 1
        floor = [*held, *range(start, in_flight)][-MAX_ENTRIES:]
        with_flight = [*held, *range(start, in_flight + 1)][-MAX_ENTRIES:]
        calls = history_calls(path) if path.exists() else []
        assert calls in (floor, with_flight), (round_, start, done, calls[-5:], floor[-5:])
        landed_in_flight += calls == with_flight
        held, start = calls, in_flight + 1  # the call in flight landed, or never will
    assert len(held) == MAX_ENTRIES and landed_in_flight > 0


def test_volume_settings_killed_at_many_points_hold_the_old_or_the_new_levels(tmp_path):
    path = tmp_path / "settings.json"
    rng = random.Random(45)
    levels = {"earpiece": 8, "ringer": 8}  # what the file holds (none yet: the defaults)
    start = 0
    for round_ in range(ROUNDS):
        # each child reads the file first, as the phone does after its restart
        lines = cut(writer("volume", path, start), writes=rng.randrange(0, 30),
                    within=rng.uniform(0, 0.002))
        done = last_done(lines)
        in_flight = start if done is None else done + 1
        before = dict(levels)
        for i in range(start, in_flight):
            name, level = volume_change(i)
            before[name] = int(level)
        name, level = volume_change(in_flight)
        with_flight = {**before, name: int(level)}
        stored = json.loads(path.read_text())["volume"] if path.exists() else levels
        assert stored in (before, with_flight), (round_, start, done, stored, before)
        assert VolumeKeeper(path).levels == stored  # read back whole, as the phone would
        levels, start = stored, in_flight + 1
    assert start > ROUNDS  # changes did complete between the cuts


OLD = """[identity]
user = "alice"
extension = "201"

[network]
hostname = "deskphone-old"

[network.wifi]
ssid = "old office"
psk = "an old passphrase"
country = "DE"
"""
NEW = """[identity]
user = "bob"
extension = "202"

[network]
hostname = "deskphone-new"
address = "192.0.2.50/24"
gateway = "192.0.2.1"
dns = ["192.0.2.53"]

[network.wifi]
ssid = "new office"
psk = "a new passphrase"
country = "FR"
"""


def first_boot(boot: Path, root: Path) -> list[str]:
    return [sys.executable, str(BOOT / "firstboot.py"), str(boot / "deskphone.toml"), str(root)]


def files_of(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*"))
            if p.is_file() and p.name != "group"}


def provisioned(tmp: Path, name: str, text: str, base: Path | None = None) -> tuple[Path, Path]:
    boot, root = tmp / name / "boot", tmp / name / "root"
    if base is None:
        (root / "etc").mkdir(parents=True)
        (root / "etc/group").write_text(f"root:x:0:\ndeskphone:x:{os.getgid()}:\n")
        boot.mkdir(parents=True)
    else:
        shutil.copytree(base / "root", root)
        shutil.copytree(base / "boot", boot)
    (boot / "deskphone.toml").write_text(text)
    return boot, root


def run_to_end(boot: Path, root: Path) -> float:
    started = time.monotonic()
    subprocess.run(first_boot(boot, root), check=True, capture_output=True, cwd=REPO)
    return time.monotonic() - started


def without_stamp(files: dict[str, bytes]) -> dict[str, bytes]:
    """The report on the card names the time it was applied: compare it without that line."""
    return {k: (b"\n".join(v.split(b"\n")[1:]) if k.endswith(".result") else v)
            for k, v in files.items()}


def test_first_boot_killed_at_many_points_then_rerun_applies_the_new_config(tmp_path):
    old_boot, old_root = provisioned(tmp_path, "old", OLD)
    run_to_end(old_boot, old_root)
    new_boot, new_root = provisioned(tmp_path, "new", NEW, base=tmp_path / "old")
    duration = run_to_end(new_boot, new_root)
    old = without_stamp(files_of(old_root) | files_of(old_boot))
    new = without_stamp(files_of(new_root) | files_of(new_boot))
    assert old.keys() <= new.keys() and old != new
    rng = random.Random(5)
    results = set()
    for round_ in range(ROUNDS):
        boot, root = provisioned(tmp_path, f"cut{round_}", NEW, base=tmp_path / "old")
        # The whole run is a Python start, the checks, a PBKDF2 and five atomic writes: spread
        # the cuts over all of it.
        cut(first_boot(boot, root), writes=-1, within=rng.uniform(0, duration), may_finish=True)
        for name, data in without_stamp(files_of(root) | files_of(boot)).items():
            if name == "deskphone.toml":  # the source on the card: ours, untouched or gone
                assert data == NEW.encode()
            elif not Path(name).name.startswith("."):  # a cut's temporary file: below
                assert data in (old.get(name), new.get(name)), (round_, name, data[:80])
        results.add((boot / "deskphone.toml").exists())
        temps = [p for p in root.rglob(".*.tmp")] + [p for p in boot.rglob(".*.tmp")]
        assert len(temps) <= 1, temps
        if (boot / "deskphone.toml").exists():  # the next boot runs it again
            run_to_end(boot, root)
        after = without_stamp(files_of(root) | files_of(boot))
        assert after == new, round_
        assert not [p for p in root.rglob(".*.tmp")], "leftovers cleared by the rerun"
        assert stat.S_IMODE((root / "etc/deskphone/deskphone.toml").stat().st_mode) == 0o640
    assert True in results  # some cuts came before the source was deleted
