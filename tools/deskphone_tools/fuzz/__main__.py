"""`python -m deskphone_tools.fuzz`: run the fuzz targets.

    list                                   the targets and their seed counts
    quick [--inputs N] [TARGET ...]        seeds + N deterministic mutants each (no atheris)
    atheris TARGET --runs N --workdir DIR  one coverage-guided libFuzzer run (one process)
    all [--runs N] [--workdir DIR] [TARGET ...]
                                           `make fuzz`: `atheris` for each target in its own
                                           process; prints counts, times and findings, writes
                                           DIR/fuzz-results.json and DIR/findings/<reproducer>

Findings do not stop a run: each is recorded once (type + firmware line) with its shortest
input, printed with its traceback, and the exit status is 1 when there were any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from deskphone_tools.fuzz.harness import Findings, load_targets, quick, reproducer_name, run_one

DEFAULT_RUNS = 1_000_000


def _cmd_list(_args: argparse.Namespace) -> int:
    for name, target in load_targets().items():
        print(f"{name:16} {len(target.seeds()):3} seeds  max_len {target.max_len}")
    return 0


def _cmd_quick(args: argparse.Namespace) -> int:
    targets = load_targets()
    total = 0
    for name in args.targets or list(targets):
        result = quick(targets[name], args.inputs, seed=args.seed)
        print(f"{name:16} {result.inputs:8} inputs {result.seconds:7.2f} s "
              f"{len(result.findings)} findings")
        for finding in result.findings:
            print("  " + finding.describe())
        total += len(result.findings)
    return 1 if total else 0


def _write_dictionary(tokens: tuple[bytes, ...], path: Path) -> None:
    # libFuzzer dictionary: one "\xNN"-escaped string per line
    lines = ['"' + "".join(f"\\x{b:02x}" for b in token) + '"' for token in tokens if token]
    path.write_text("\n".join(lines) + "\n")


def _cmd_atheris(args: argparse.Namespace) -> int:
    """One target under libFuzzer. Findings are recorded by `run_one` (the process goes on);
    libFuzzer itself only stops for a hang (-timeout) or a crash of the interpreter."""
    import atexit

    import atheris  # the `fuzz` extra of tools/pyproject.toml

    with atheris.instrument_imports(include=["deskphone"]):
        targets = load_targets()
    target = targets[args.target]
    workdir = Path(args.workdir)
    corpus = workdir / "corpus" / target.name        # grows; the committed seeds stay as they are
    findings_dir = workdir / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings_dir.mkdir(parents=True, exist_ok=True)
    dictionary = workdir / f"{target.name}.dict"
    _write_dictionary(target.tokens, dictionary)
    findings = Findings()
    reported: set[tuple[str, str, str]] = set()

    def one_input(data: bytes) -> None:
        finding = run_one(target, data, findings)
        if finding is not None and finding.key not in reported:
            reported.add(finding.key)
            print(f"\nFINDING {finding.describe()}\n{finding.trace}", file=sys.stderr, flush=True)

    def save() -> None:
        summary = []
        for finding in findings:
            name = reproducer_name(finding)
            (findings_dir / name).write_bytes(finding.data)
            summary.append({"kind": finding.kind, "where": finding.where,
                            "message": finding.message[:300], "count": finding.count,
                            "reproducer": name, "bytes": finding.data[:300].hex()})
        (workdir / f"{target.name}.findings.json").write_text(json.dumps(summary, indent=2))

    atexit.register(save)
    argv = [sys.argv[0], f"-runs={args.runs}", f"-max_len={target.max_len}",
            f"-dict={dictionary}", "-timeout=10", "-rss_limit_mb=2048",
            f"-artifact_prefix={findings_dir}/{target.name}-", "-print_final_stats=1",
            str(corpus), str(target.corpus)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
_COVERAGE = re.compile(rb"cov: (\d+) ft: (\d+)")


def _cmd_all(args: argparse.Namespace) -> int:
    names = args.targets or list(load_targets())
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {}
    any_findings = False
    for name in names:
        started = time.monotonic()
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.run(
                [sys.executable, "-m", "deskphone_tools.fuzz", "atheris", name,
                 "--runs", str(args.runs), "--workdir", str(workdir)],
                stdout=out, stderr=subprocess.STDOUT, check=False,
                env={**os.environ, "PYTHONHASHSEED": "0"})
        seconds = time.monotonic() - started
        text = log.read_bytes()
        done = _DONE.findall(text)
        coverage = _COVERAGE.findall(text)
        findings_file = workdir / f"{name}.findings.json"
        findings = json.loads(findings_file.read_text()) if findings_file.exists() else []
        results[name] = {
            "runs": int(done[-1][0]) if done else None,
            "seconds": round(seconds, 1),
            "coverage": int(coverage[-1][0]) if coverage else None,
            "exit": process.returncode,
            "findings": findings,
        }
        any_findings |= bool(findings) or process.returncode != 0
        print(f"{name:16} runs {results[name]['runs']} in {seconds:.0f} s, "
              f"cov {results[name]['coverage']}, exit {process.returncode}, "
              f"{len(findings)} findings (log {log})", flush=True)
        for finding in findings:
            print(f"    {finding['kind']} at {finding['where']}: {finding['message'][:100]} "
                  f"({finding['count']}x, reproducer {workdir}/findings/{finding['reproducer']})")
    (workdir / "fuzz-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {workdir / 'fuzz-results.json'}")
    return 1 if any_findings else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deskphone_tools.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list").set_defaults(func=_cmd_list)
    q = sub.add_parser("quick")
    q.add_argument("targets", nargs="*")
    q.add_argument("--inputs", type=int, default=2000)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_cmd_quick)
    a = sub.add_parser("atheris")
    a.add_argument("target")
    a.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    a.add_argument("--workdir", default="fuzz-work")
    a.set_defaults(func=_cmd_atheris)
    every = sub.add_parser("all")
    every.add_argument("targets", nargs="*")
    every.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    every.add_argument("--workdir", default="fuzz-work")
    every.set_defaults(func=_cmd_all)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
