"""The ZRTP core's shape (issue 12): imports one way, phase handlers own no session, a table that
names the next state."""

from __future__ import annotations

import ast
from pathlib import Path

import deskphone.zrtp
from deskphone.zrtp.session import TRANSITIONS, State

PACKAGE = Path(deskphone.zrtp.__file__).parent
PHASES = ("discovery", "commit", "dh_exchange", "confirm", "any_state", "retransmit")


def imports_of(module: Path) -> set[str]:
    """Sibling modules imported anywhere in `module`: top level, in functions, under
    TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("deskphone.zrtp."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names
                         if a.name.startswith("deskphone.zrtp."))
    return found


def test_no_import_cycle_inside_zrtp():
    graph = {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, f"import cycle: {' -> '.join(visiting + [name])}"
        visiting.append(name)
        for target in sorted(graph.get(name, ())):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_phase_modules_never_see_the_session():
    for phase in PHASES:
        source = (PACKAGE / f"{phase}.py").read_text()
        assert "session" not in imports_of(PACKAGE / f"{phase}.py"), phase
        assert "ZrtpSession" not in source, phase
        tree = ast.parse(source)
        for node in ast.walk(tree):
            # the handshake's state name is the session's to move, along its table
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr == "state"), \
                        f"{phase}.py line {node.lineno} sets the state itself"
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                if node.attr != "_algorithm_name":  # packets' name helper
                    raise AssertionError(f"{phase}.py line {node.lineno} reaches {node.attr}")


def test_zrtp_core_does_no_file_io():
    for path in PACKAGE.glob("*.py"):
        if path.stem in ("cache", "writer", "__init__"):  # the storage the adapter plugs in
            continue
        names = imports_of(path)
        assert "cache" not in names, f"{path.name} imports the SQLite cache"
        source = path.read_text()
        assert "sqlite3" not in source and "open(" not in source.replace("_open(", ""), path.name


def test_every_state_has_a_row_and_the_table_names_reachable_states():
    assert set(TRANSITIONS) == set(State)
    reached = {State.IDLE, State.DISCOVERY, State.COMMIT_SENT, State.FAILED}  # start, trigger
    for row in TRANSITIONS.values():
        for transition in row.values():
            reached |= transition.to
    assert reached == set(State)


def test_modules_stay_small():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) < 500, path.name
