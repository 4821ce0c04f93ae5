"""One name, one meaning (STYLE.md): an event class name is defined once in the whole package, and
so are the two types that cross layers, SrtpKeys (ZRTP → media) and CodecSpec.

Read from the source (ast), not by importing: a class defined under a guard or in a module that
fails to import still counts.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import deskphone

PACKAGE = Path(deskphone.__file__).parent


def _classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _where_defined() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _classes(path):
            found[name].append(str(path.relative_to(PACKAGE)))
    return found


def test_the_package_has_several_event_modules() -> None:
    # The check below means something only if it sees the event vocabularies it guards.
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("events.py")}
    assert {"phone/events.py", "sip/events.py", "zrtp/events.py"} <= modules


def test_no_two_event_modules_define_the_same_class_name() -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("events.py")):
        for name in _classes(path):
            owners[name].append(str(path.relative_to(PACKAGE)))
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert not shared, f"event class names defined more than once: {shared}"


def test_event_names_are_not_reused_by_other_classes_either() -> None:
    event_names = {name for path in PACKAGE.rglob("events.py") for name in _classes(path)}
    where = _where_defined()
    reused = {name: where[name] for name in event_names if len(where[name]) > 1}
    assert not reused, f"event class names also defined elsewhere: {reused}"


def test_one_srtp_keys_and_one_codec_spec() -> None:
    where = _where_defined()
    assert where["SrtpKeys"] == ["zrtp/events.py"], where["SrtpKeys"]
    assert len(where["CodecSpec"]) == 1, where["CodecSpec"]
