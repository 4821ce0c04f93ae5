"""Fuzzing every parser that takes bytes from outside the phone (issue 16 item 4).

A *target* is a function of one `bytes` input that drives a parser (or a whole sans-IO core)
and lets only the exception types that parser documents escape. Anything else that escapes is a
*finding*: kept with its input, deduplicated by exception type and the firmware line that raised
it, and the run goes on.

Two engines run the same targets:
- `make fuzz`: atheris (coverage-guided libFuzzer), one process per target, 10^6 inputs each by
  default (`FUZZ_RUNS`), starting from the seed corpora in `corpus/<target>/`;
- `quick` (no extra dependency, deterministic): the seeds plus a few thousand mutations each,
  which `tests/fuzz/` runs in the normal test suite.

Modules: `harness` (targets, findings, the deterministic mutator), `targets_sip`,
`targets_media`, `targets_session` (SDP, ZRTP, control socket), `worst_case` (the bench's
biggest inputs), `__main__` (the command line).
"""
