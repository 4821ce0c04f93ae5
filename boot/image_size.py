#!/usr/bin/env python3
"""What takes the space in the SD image, and the checks that keep it small.

    boot/image_size.py ROOTFS --image IMG [--xz IMG.XZ] [--bootfs DIR] [--root-mib N]
                       [--report FILE.json] [--budget-mib N]

Run by boot/build-image.sh at the end of every build (full, cached or --reuse-rootfs) on the
finished rootfs directory. Prints what the root file system's space goes to (by area, by
Debian package on disk against its declared Installed-Size, by package of the phone's venv),
writes the same as JSON (--report) and exits 1 naming each broken rule:
  - the used space is over the budget (BUDGET_MIB: the measured size plus a margin; raise it
    on purpose, with the reason, when the phone needs more);
  - a file that boot/image/dpkg-excludes.cfg excludes is in the tree (docs, manual pages,
    translations, foreign kernel modules, device trees and firmware came back);
  - a module of boot/image/required-modules.txt is missing, or a kept module depends (its
    .modinfo `depends=`) on a module the excludes removed;
  - apt's package lists or caches, or a tests/ directory of a Python package, are in the image;
  - a .py file of the venv has no compiled bytecode: deskphone.service runs with
    ProtectSystem=strict, so Python could not write __pycache__ and would compile every
    module again on each start (a slow cold start on a Pi).
Standard library only: it runs on the build host's python3.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXCLUDES = HERE / "image" / "dpkg-excludes.cfg"
REQUIRED_MODULES = HERE / "image" / "required-modules.txt"
# Root file system used space, MiB. Measured 2026-12 (see boot/README.md, "What takes the
# space"): 518 MiB after the cuts; the budget leaves ~15 % for security updates and a
# dependency or two. A build over it fails: cut something, or raise it here saying why.
BUDGET_MIB = 600
VENV_SITE = "opt/deskphone/venv/lib/python3.11/site-packages"
MIB = 1024 * 1024

# Areas of the rootfs, first match wins (paths relative to the rootfs, after usrmerge).
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("python bytecode (__pycache__, everywhere)", ("*/__pycache__/*",)),
    ("kernel modules", ("usr/lib/modules/*",)),
    ("kernel, initrd (/boot)", ("boot/*",)),
    ("device trees (/usr/lib/linux-image-*)", ("usr/lib/linux-image-*",)),
    ("Pi boot firmware (/usr/lib/raspi-firmware)", ("usr/lib/raspi-firmware/*",)),
    ("firmware blobs (/usr/lib/firmware)", ("usr/lib/firmware/*",)),
    ("phone venv (/opt/deskphone/venv)", ("opt/deskphone/*",)),
    ("python3.11 standard library", ("usr/lib/python3*",)),
    ("shared libraries (/usr/lib/aarch64-linux-gnu)", ("usr/lib/aarch64-linux-gnu/*",)),
    ("systemd, udev (/usr/lib/systemd, /usr/lib/udev)", ("usr/lib/systemd/*", "usr/lib/udev/*")),
    ("programs (/usr/bin, /usr/sbin)", ("usr/bin/*", "usr/sbin/*")),
    ("docs, manual pages, translations", ("usr/share/doc/*", "usr/share/man/*",
                                          "usr/share/locale/*", "usr/share/info/*")),
    ("other /usr/share", ("usr/share/*",)),
    ("dpkg, apt, debconf state (/var)", ("var/lib/dpkg/*", "var/lib/apt/*", "var/cache/*")),
    ("other /usr/lib", ("usr/lib/*",)),
    ("everything else (/etc, /var, ...)", ("*",)),
]
# usrmerge: the rootfs has /lib -> usr/lib etc.; packages (and dpkg's filters) still say /lib.
USRMERGE = {"usr/lib/": "/lib/", "usr/bin/": "/bin/", "usr/sbin/": "/sbin/"}


def load_filters(path: Path = EXCLUDES) -> list[tuple[bool, str]]:
    """(exclude?, glob) in file order, from dpkg path-exclude=/path-include= lines."""
    filters = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        for key, exclude in (("path-exclude=", True), ("path-include=", False)):
            if line.startswith(key):
                filters.append((exclude, line[len(key):]))
    return filters


def dpkg_excluded(path: str, filters: list[tuple[bool, str]]) -> bool:
    """dpkg's rule (dpkg(1) --path-exclude): every filter is tried in order and the last one
    that matches decides; fnmatch without FNM_PATHNAME, so `*` also matches `/`."""
    excluded = False
    for exclude, pattern in filters:
        if fnmatch.fnmatchcase(path, pattern):
            excluded = exclude
    return excluded


def package_paths(rel: str) -> list[str]:
    """The absolute paths a package may use for a file at rel (rootfs-relative)."""
    paths = ["/" + rel]
    for merged, legacy in USRMERGE.items():
        if rel.startswith(merged):
            paths.append(legacy + rel[len(merged):])
    return paths


@dataclass
class Tree:
    """Every non-directory entry of the rootfs with the bytes it takes on disk (hard links
    counted once)."""

    root: Path
    files: dict[str, int] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path) -> Tree:
        tree = cls(root)
        seen: set[tuple[int, int]] = set()
        device = root.stat().st_dev
        for dirpath, dirnames, filenames in os.walk(root):
            # One file system, like du -x: /proc, /dev or /sys may be mounted while it builds.
            dirnames[:] = sorted(d for d in dirnames
                                 if os.lstat(os.path.join(dirpath, d)).st_dev == device)
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                key = (st.st_dev, st.st_ino)
                size = 0 if key in seen else st.st_blocks * 512
                seen.add(key)
                tree.files[os.path.relpath(full, root)] = size
        return tree

    def used_bytes(self) -> int:
        return sum(self.files.values())

    def under(self, prefix: str) -> Iterator[tuple[str, int]]:
        for rel, size in self.files.items():
            if rel.startswith(prefix):
                yield rel, size


def areas(tree: Tree) -> list[tuple[str, int]]:
    totals = dict.fromkeys((name for name, _ in AREAS), 0)
    for rel, size in tree.files.items():
        for name, patterns in AREAS:
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                totals[name] += size
                break
    return sorted(totals.items(), key=lambda item: -item[1])


def debian_packages(tree: Tree) -> list[dict[str, object]]:
    """Each package's files on disk (what the excludes left) beside its Installed-Size."""
    declared: dict[str, int] = {}
    status = tree.root / "var/lib/dpkg/status"
    if status.exists():
        for stanza in status.read_text(errors="replace").split("\n\n"):
            fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                          if ": " in line and not line.startswith(" "))
            if "Package" in fields and "Installed-Size" in fields:
                declared[fields["Package"]] = int(fields["Installed-Size"]) * 1024
    by_legacy = {}
    for rel in tree.files:
        for path in package_paths(rel):
            by_legacy[path] = rel
    rows = []
    for listing in sorted((tree.root / "var/lib/dpkg/info").glob("*.list")):
        package = listing.name[:-len(".list")].split(":")[0]
        owned = {by_legacy[p] for p in listing.read_text(errors="replace").splitlines()
                 if p in by_legacy}
        rows.append({"package": package, "on_disk_bytes": sum(tree.files[r] for r in owned),
                     "installed_size_bytes": declared.get(package, 0)})
    return sorted(rows, key=lambda row: -int(str(row["on_disk_bytes"])))


def venv_packages(tree: Tree) -> list[tuple[str, int]]:
    """site-packages by top-level entry; `X.libs` (bundled shared libraries) counts as X."""
    totals: dict[str, int] = {}
    prefix = VENV_SITE + "/"
    for rel, size in tree.under(prefix):
        top = rel[len(prefix):].split("/")[0]
        if top.endswith(".dist-info"):
            top = "(dist-info metadata)"
        top = top.removesuffix(".libs").removesuffix(".py")
        totals[top] = totals.get(top, 0) + size
    return sorted(totals.items(), key=lambda item: -item[1])


def modinfo_depends(path: Path) -> list[str]:
    """The `depends=` of a kernel module's .modinfo section (ELF64 little-endian)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return []
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    names_offset = sections[shstrndx][4]
    for name, _type, _flags, _addr, offset, size in sections:
        end = data.index(b"\0", names_offset + name)
        if data[names_offset + name:end] == b".modinfo":
            for entry in data[offset:offset + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    return [d for d in entry[len(b"depends="):].decode().split(",") if d]
    return []


def module_name(path: str) -> str:
    return os.path.basename(path).removesuffix(".ko").replace("-", "_")


def module_problems(tree: Tree, required: list[str]) -> list[str]:
    problems = []
    for kdir in sorted((tree.root / "usr/lib/modules").glob("*")):
        builtin_file = kdir / "modules.builtin"
        builtin = builtin_file.read_text().split() if builtin_file.exists() else []
        prefix = os.path.relpath(kdir, tree.root) + "/kernel/"
        files = [rel for rel, _ in tree.under(prefix) if rel.endswith(".ko")]
        present = {rel[len(prefix):] for rel in files}
        names = {module_name(p) for p in present} | {module_name(b) for b in builtin}
        for wanted in required:
            if wanted not in present and "kernel/" + wanted not in builtin:
                problems.append(f"kernel {kdir.name}: the Pi needs {wanted}, which is "
                                "neither in the tree nor built in")
        for rel in files:
            missing = [d for d in modinfo_depends(tree.root / rel)
                       if d.replace("-", "_") not in names]
            if missing:
                problems.append(f"kernel {kdir.name}: {rel[len(prefix):]} needs "
                                f"{', '.join(missing)}, removed by the excludes")
    return problems


def required_modules(path: Path = REQUIRED_MODULES) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def problems(tree: Tree, budget_mib: int, filters: list[tuple[bool, str]],
             required: list[str]) -> list[str]:
    found = []
    used_mib = tree.used_bytes() / MIB
    if used_mib > budget_mib:
        found.append(f"the root file system uses {used_mib:.0f} MiB, over the budget of "
                     f"{budget_mib} MiB (boot/image_size.py BUDGET_MIB)")
    # Symbolic links take no space, and dpkg installs those of excluded paths all the same.
    excluded = [rel for rel in tree.files if not (tree.root / rel).is_symlink()
                and any(dpkg_excluded(p, filters) for p in package_paths(rel))]
    if excluded:
        found.append(f"{len(excluded)} file(s) that boot/image/dpkg-excludes.cfg excludes are "
                     f"in the image, e.g. /{', /'.join(excluded[:5])}")
    found += module_problems(tree, required)
    leftovers = [rel for rel in tree.files
                 if (rel.startswith("var/lib/apt/lists/") and not rel.endswith("/lock"))
                 or (rel.startswith("var/cache/apt/") and rel.endswith((".bin", ".deb")))]
    if leftovers:
        found.append(f"apt lists or caches are in the image: /{', /'.join(leftovers[:5])}")
    tests = sorted({rel.split("/tests/")[0] + "/tests" for rel, _ in tree.under(VENV_SITE)
                    if "/tests/" in rel})
    if tests:
        found.append(f"test suites of Python packages are in the venv: /{', /'.join(tests[:5])}")
    uncompiled = []
    for rel, _ in tree.under(VENV_SITE + "/"):
        if rel.endswith(".py"):
            folder, name = os.path.split(rel)
            if f"{folder}/__pycache__/{name[:-3]}.cpython-311.pyc" not in tree.files:
                uncompiled.append(rel)
    if uncompiled:
        found.append(f"{len(uncompiled)} module(s) of the venv have no bytecode (compiled at "
                     f"every start under ProtectSystem=strict), e.g. /{uncompiled[0]}")
    return found


def report(tree: Tree, args: argparse.Namespace, found: list[str]) -> dict[str, object]:
    image = Path(args.image) if args.image else None
    xz = Path(args.xz) if args.xz else None
    boot = Tree.scan(Path(args.bootfs)) if args.bootfs else None
    return {
        "image_file": str(image) if image else None,
        "image_bytes": image.stat().st_size if image and image.exists() else None,
        "image_xz_bytes": xz.stat().st_size if xz and xz.exists() else None,
        "boot_partition_used_bytes": boot.used_bytes() if boot else None,
        "root_partition_mib": args.root_mib,
        "root_used_bytes": tree.used_bytes(),
        "root_files": len(tree.files),
        "budget_mib": args.budget_mib,
        "areas": [{"area": name, "bytes": size} for name, size in areas(tree)],
        "debian_packages": debian_packages(tree)[:25],
        "venv_packages": [{"package": name, "bytes": size}
                          for name, size in venv_packages(tree)[:20]],
        "problems": found,
    }


def mib(value: object) -> str:
    return "-" if value is None else f"{int(str(value)) / MIB:.1f}"


def print_report(data: dict[str, object]) -> None:
    print(f"image-size: image {mib(data['image_bytes'])} MiB, .img.xz "
          f"{mib(data['image_xz_bytes']) if data['image_xz_bytes'] else 'not made (--no-xz)'}"
          f"{' MiB' if data['image_xz_bytes'] else ''}; RASPIROOT {data['root_partition_mib']}"
          f" MiB with {mib(data['root_used_bytes'])} MiB used (budget {data['budget_mib']}"
          f" MiB, {data['root_files']} files); RASPIFIRM used "
          f"{mib(data['boot_partition_used_bytes'])} MiB")
    print("image-size: root file system by area (MiB):")
    for row in data["areas"]:  # type: ignore[attr-defined]
        print(f"    {mib(row['bytes']):>7}  {row['area']}")
    print("image-size: largest Debian packages, on disk / declared Installed-Size (MiB):")
    for row in data["debian_packages"][:12]:  # type: ignore[index]
        print(f"    {mib(row['on_disk_bytes']):>7} / {mib(row['installed_size_bytes']):>7}"
              f"  {row['package']}")
    print("image-size: largest packages of the phone's venv (MiB):")
    for row in data["venv_packages"][:10]:  # type: ignore[index]
        print(f"    {mib(row['bytes']):>7}  {row['package']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("--image")
    parser.add_argument("--xz")
    parser.add_argument("--bootfs")
    parser.add_argument("--root-mib", type=int)
    parser.add_argument("--report")
    parser.add_argument("--budget-mib", type=int, default=BUDGET_MIB)
    args = parser.parse_args(argv)
    if not (args.rootfs / "usr").is_dir():
        parser.error(f"{args.rootfs} is not a root file system (no usr/)")
    tree = Tree.scan(args.rootfs)
    found = problems(tree, args.budget_mib, load_filters(), required_modules())
    data = report(tree, args, found)
    print_report(data)
    if args.report:
        Path(args.report).write_text(json.dumps(data, indent=1) + "\n")
        print(f"image-size: report in {args.report}")
    for problem in found:
        print(f"image-size: FAIL {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
