"""Targets, findings and the deterministic mutator shared by both fuzz engines.

A finding is keyed by (target, exception type, innermost firmware frame): the same bug reached
by a thousand inputs is one finding with the first (shortest seen) input kept as its reproducer.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_ROOT = Path(__file__).with_name("corpus")
# Modules whose TARGETS lists make up the registry; imported lazily so that atheris can
# instrument the firmware before anything imports it.
TARGET_MODULES = (
    "deskphone_tools.fuzz.targets_sip",
    "deskphone_tools.fuzz.targets_media",
    "deskphone_tools.fuzz.targets_session",
)


@dataclass(frozen=True)
class Target:
    """One fuzz target: `run(data)` may raise only `documented` (which counts as handled)."""

    name: str
    run: Callable[[bytes], None]
    documented: tuple[type[BaseException], ...] = ()
    max_len: int = 4096
    # Byte strings worth splicing in (libFuzzer dictionary entries, and the mutator's tokens).
    tokens: tuple[bytes, ...] = ()

    @property
    def corpus(self) -> Path:
        return CORPUS_ROOT / self.name

    def seeds(self) -> list[bytes]:
        if not self.corpus.is_dir():
            return []
        return [p.read_bytes() for p in sorted(self.corpus.iterdir()) if p.is_file()]


@dataclass
class Finding:
    target: str
    kind: str                 # exception type name
    where: str                # innermost frame in the firmware, "file:line in function"
    message: str
    data: bytes
    count: int = 1
    trace: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.kind, self.where)

    def describe(self) -> str:
        return (f"{self.target}: {self.kind} at {self.where}: {self.message[:120]} "
                f"(hit {self.count}x; reproducer {len(self.data)} bytes: {self.data[:200]!r})")


@dataclass
class Findings:
    by_key: dict[tuple[str, str, str], Finding] = field(default_factory=dict)

    def add(self, target: Target, exc: BaseException, data: bytes) -> Finding:
        finding = Finding(target.name, type(exc).__name__, _innermost_firmware_frame(exc),
                          str(exc), data, trace="".join(traceback.format_exception(exc)))
        known = self.by_key.get(finding.key)
        if known is None:
            self.by_key[finding.key] = finding
            return finding
        known.count += 1
        if len(data) < len(known.data):
            known.data = data
        return known

    def __len__(self) -> int:
        return len(self.by_key)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.by_key.values())


def _innermost_firmware_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/deskphone/" in f.filename and "deskphone_tools" not in
              f.filename] or frames
    frame = inside[-1] if inside else None
    if frame is None:
        return "?"
    path = frame.filename
    if "/deskphone/" in path:
        path = "deskphone/" + path.rsplit("/deskphone/", 1)[1]
    return f"{path}:{frame.lineno} in {frame.name}"


def run_one(target: Target, data: bytes, findings: Findings) -> Finding | None:
    """Run one input; a documented exception is handled, anything else becomes a finding."""
    try:
        target.run(data)
    except target.documented:
        return None
    except Exception as exc:  # the point of fuzzing: record whatever else escapes
        return findings.add(target, exc, data)
    return None


def load_targets() -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for module_name in TARGET_MODULES:
        module = importlib.import_module(module_name)
        for target in module.TARGETS:
            if target.name in targets:
                raise ValueError(f"fuzz target {target.name!r} defined twice")
            targets[target.name] = target
    return targets


# -- the deterministic mutator (no atheris needed) ----------------------------------------------

# Inputs that broke parsers before (issue 21): Unicode digits, a 4,301-digit number, bytes that
# are not UTF-8, separators, the boundaries of 8/16/32-bit fields.
COMMON_TOKENS = (
    "²".encode(), "٣".encode(), b"9" * 4301, b"\xff", b"\xc3", b"\x00", b"\r\n", b"\n", b"\r\n\r\n",
    b" ", b"\t", b":", b";", b",", b"=", b"/", b'"', b"<", b">", b"-1", b"0", b"65535",
    b"65536", b"4294967295", b"4294967296", b"\x7f\xff", b"\xff\xff\xff\xff", b"\x80\x00",
)


class Mutator:
    """Seeded mutations in the spirit of libFuzzer's: flips, inserts, erases, splices, tokens."""

    def __init__(self, seeds: list[bytes], tokens: tuple[bytes, ...], max_len: int,
                 seed: int = 0) -> None:
        self.seeds = seeds or [b""]
        self.tokens = tuple(tokens) + COMMON_TOKENS
        self.max_len = max_len
        self.rng = random.Random(seed)

    def mutate(self, data: bytes) -> bytes:
        rng = self.rng
        buf = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            op = rng.randrange(9)
            pos = rng.randrange(len(buf) + 1)
            if op == 0 and buf:                                  # flip a bit
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
            elif op == 1 and buf:                                # set a random byte
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            elif op == 2:                                        # insert random bytes
                buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
            elif op == 3 and buf:                                # erase a run
                end = min(len(buf), pos + rng.randrange(1, 16))
                del buf[pos:end]
            elif op == 4:                                        # insert a token
                buf[pos:pos] = rng.choice(self.tokens)
            elif op == 5 and buf:                                # replace a run by a token
                end = min(len(buf), pos + rng.randrange(1, 8))
                buf[pos:end] = rng.choice(self.tokens)
            elif op == 6 and buf:                                # duplicate a chunk
                start = rng.randrange(len(buf))
                chunk = buf[start:start + rng.randrange(1, 64)]
                buf[pos:pos] = chunk * rng.randrange(1, 4)
            elif op == 7:                                        # splice another seed
                other = rng.choice(self.seeds)
                cut = rng.randrange(len(other) + 1)
                buf = buf[:pos] + bytearray(other[cut:])
            elif op == 8 and buf:                                # truncate
                del buf[pos:]
        return bytes(buf[: self.max_len])

    def inputs(self, count: int) -> Iterator[bytes]:
        """The seeds first, then `count - len(seeds)` mutants of seeds and earlier mutants."""
        pool = list(self.seeds)
        produced = 0
        for seed in self.seeds:
            if produced >= count:
                return
            produced += 1
            yield seed
        while produced < count:
            parent = self.rng.choice(pool)
            child = self.mutate(parent)
            if len(pool) < 512 and self.rng.random() < 0.05:
                pool.append(child)   # keep some mutants so mutations stack up
            produced += 1
            yield child


@dataclass
class QuickResult:
    target: str
    inputs: int
    seconds: float
    findings: Findings


def quick(target: Target, inputs: int, seed: int = 0,
          clock: Callable[[], float] | None = None) -> QuickResult:
    """Run the seeds and deterministic mutants of `target`; never raises for a finding."""
    import time

    now = clock or time.perf_counter
    findings = Findings()
    mutator = Mutator(target.seeds(), target.tokens, target.max_len, seed)
    started = now()
    ran = 0
    for data in mutator.inputs(inputs):
        run_one(target, data, findings)
        ran += 1
    return QuickResult(target.name, ran, now() - started, findings)


def reproducer_name(finding: Finding) -> str:
    digest = hashlib.sha1(finding.data).hexdigest()[:12]
    return f"{finding.target}-{finding.kind}-{digest}"


class Reader:
    """Reads a fuzz input as a little program (libFuzzer's FuzzedDataProvider, simplified):
    small numbers from the front, byte strings after them; an exhausted input reads zeros."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def uint(self, size: int) -> int:
        return int.from_bytes(bytes(self.byte() for _ in range(size)), "big")

    def chunk(self, limit: int = 255) -> bytes:
        length = min(self.byte(), limit)
        out = self.data[self.pos:self.pos + length]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def split_messages(data: bytes, separator: bytes, limit: int = 16) -> list[bytes]:
    """Several datagrams in one input, as the seeds write them: separated by `separator`."""
    return data.split(separator, limit)[:limit]
