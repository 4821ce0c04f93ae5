"""The image's size rules (boot/image_size.py, boot/image/dpkg-excludes.cfg), without building:
dpkg's filter semantics, what the excludes keep and drop, and the checks on a rootfs tree."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from tests.boot.bootmods import BOOT, load

size = load(BOOT / "image_size.py", "image_size")
FILTERS = size.load_filters()
KVER = "6.1.0-57-arm64"
KERNEL = f"/lib/modules/{KVER}/kernel/"


def kept(path: str) -> bool:
    return not size.dpkg_excluded(path, FILTERS)


def test_last_matching_filter_decides_and_star_crosses_slashes() -> None:
    filters = [(True, "/usr/share/doc/*"), (False, "/usr/share/doc/*/copyright"),
               (True, "/usr/share/doc/secret/*")]
    assert size.dpkg_excluded("/usr/share/doc/a/b/README", filters)
    assert not size.dpkg_excluded("/usr/share/doc/a/copyright", filters)
    assert size.dpkg_excluded("/usr/share/doc/secret/copyright", filters)
    assert not size.dpkg_excluded("/usr/bin/ls", filters)


@pytest.mark.parametrize("module", size.required_modules())
def test_excludes_keep_every_module_the_pi_needs(module: str) -> None:
    assert kept(KERNEL + module)


@pytest.mark.parametrize("path", [
    "/usr/share/doc/python3/copyright",
    "/usr/lib/linux-image-6.1.0-57-arm64/broadcom/bcm2711-rpi-4-b.dtb",
    "/usr/lib/linux-image-6.1.0-57-arm64/broadcom/bcm2837-rpi-3-b-plus.dtb",
    "/usr/lib/raspi-firmware/start.elf", "/usr/lib/raspi-firmware/start4.elf",
    "/usr/lib/raspi-firmware/fixup4.dat", "/usr/lib/raspi-firmware/bootcode.bin",
    "/lib/firmware/brcm/brcmfmac43455-sdio.raspberrypi,4-model-b.txt",
    "/lib/firmware/brcm/brcmfmac43430-sdio.bin", "/lib/firmware/cypress/cyfmac43455-sdio.bin",
    "/lib/firmware/regulatory.db",
    KERNEL + "sound/core/snd-pcm.ko", KERNEL + "drivers/scsi/sd_mod.ko",
    KERNEL + "drivers/gpu/drm/drm.ko", KERNEL + "net/netfilter/nf_tables.ko",
])
def test_excludes_keep_what_the_pi_boots_and_runs_with(path: str) -> None:
    assert kept(path)


@pytest.mark.parametrize("path", [
    "/usr/share/doc/python3/README.Debian", "/usr/share/doc/systemd/changelog.Debian.gz",
    "/usr/share/man/man1/ls.1.gz", "/usr/share/locale/de/LC_MESSAGES/systemd.mo",
    "/usr/lib/linux-image-6.1.0-57-arm64/qcom/sm8250-hdk.dtb",
    "/usr/lib/raspi-firmware/start4x.elf", "/usr/lib/raspi-firmware/fixup_db.dat",
    "/lib/firmware/brcm/brcmfmac4366c-pcie.bin", "/lib/firmware/cypress/cyfmac54591-pcie.bin",
    KERNEL + "drivers/gpu/drm/amd/amdgpu/amdgpu.ko",
    KERNEL + "drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko",
    KERNEL + "drivers/net/wireless/intel/iwlwifi/iwlwifi.ko",
    KERNEL + "drivers/media/usb/uvc/uvcvideo.ko", KERNEL + "drivers/scsi/lpfc/lpfc.ko",
    KERNEL + "fs/btrfs/btrfs.ko", KERNEL + "lib/test_bpf.ko",
])
def test_excludes_drop_docs_and_other_hardware(path: str) -> None:
    assert not kept(path)


def test_the_build_passes_the_excludes_to_mmdebstrap_and_keys_the_cache_on_them() -> None:
    script = (BOOT / "build-image.sh").read_text()
    assert '--dpkgopt="$HERE/image/dpkg-excludes.cfg"' in script
    # The cache key hashes the script from PACKAGES=( to the end of the mmdebstrap command
    # (the sed range build-image.sh uses) and the excludes file itself.
    keyed = subprocess.run(["sed", "-n", "/^PACKAGES=(/,/mmdebstrap failed/p",
                            str(BOOT / "build-image.sh")],
                           capture_output=True, text=True, check=True).stdout
    assert "--dpkgopt=" in keyed and "--aptopt='APT::Install-Recommends \"false\"'" in keyed
    assert '"$HERE/image/dpkg-excludes.cfg"' in script.split("key=")[1].split("sha256sum")[0]


def elf_module(depends: list[str]) -> bytes:
    """A minimal ELF64 relocatable with a .modinfo section, as the kernel's modpost writes."""
    modinfo = b"license=GPL\0depends=" + ",".join(depends).encode() + b"\0"
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    body_offset = 64
    shoff = body_offset + len(modinfo) + len(shstrtab)
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 1, 183, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    sections = [bytes(64),
                struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, body_offset, len(modinfo), 0, 0, 1, 0),
                struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, body_offset + len(modinfo),
                            len(shstrtab), 0, 0, 1, 0)]
    return header + modinfo + shstrtab + b"".join(sections)


def write(root: Path, rel: str, data: bytes = b"x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A tree shaped like the image's: modules the Pi needs, a venv with bytecode."""
    root = tmp_path / "rootfs"
    kdir = f"usr/lib/modules/{KVER}/"
    for module in size.required_modules():
        write(root, kdir + "kernel/" + module, elf_module([]))
    write(root, kdir + "kernel/net/wireless/cfg80211.ko", elf_module(["rfkill"]))
    write(root, kdir + "kernel/net/rfkill/rfkill.ko", elf_module([]))
    write(root, kdir + "modules.builtin", b"kernel/drivers/mmc/core/mmc_block.ko\n")
    write(root, "usr/share/doc/python3/copyright")
    site = size.VENV_SITE
    write(root, f"{site}/deskphone/__init__.py")
    write(root, f"{site}/deskphone/__pycache__/__init__.cpython-311.pyc")
    write(root, "var/lib/apt/lists/lock")
    return root


def test_a_tree_that_keeps_the_rules_passes(rootfs: Path) -> None:
    tree = size.Tree.scan(rootfs)
    assert size.problems(tree, 100, FILTERS, size.required_modules()) == []


@pytest.mark.parametrize(("rel", "data", "complaint"), [
    ("usr/share/doc/python3/README.Debian", b"x", "/usr/share/doc/python3/README.Debian"),
    ("usr/share/man/man8/dpkg.8.gz", b"x", "dpkg-excludes.cfg excludes"),
    (f"usr/lib/modules/{KVER}/kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko", b"x",
     "amdgpu.ko"),
    (f"usr/lib/modules/{KVER}/kernel/sound/usb/snd-usb-audio.ko", elf_module(["snd-pcm"]),
     "sound/usb/snd-usb-audio.ko needs snd-pcm"),
    ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", b"x", "apt lists"),
    ("var/cache/apt/pkgcache.bin", b"x", "apt lists or caches"),
    (f"{size.VENV_SITE}/cbor2/tests/test_x.py", b"x", "cbor2/tests"),
    (f"{size.VENV_SITE}/deskphone/calls.py", b"x", "deskphone/calls.py"),
])
def test_each_rule_names_what_broke_it(rootfs: Path, rel: str, data: bytes,
                                       complaint: str) -> None:
    write(rootfs, rel, data)
    found = size.problems(size.Tree.scan(rootfs), 100, FILTERS, size.required_modules())
    assert len(found) >= 1 and any(complaint in problem for problem in found), found


def test_a_missing_required_module_is_named_unless_built_in(rootfs: Path) -> None:
    kdir = rootfs / f"usr/lib/modules/{KVER}"
    (kdir / "kernel/drivers/mmc/host/sdhci-iproc.ko").unlink()
    found = size.problems(size.Tree.scan(rootfs), 100, FILTERS, size.required_modules())
    assert found == [f"kernel {KVER}: the Pi needs drivers/mmc/host/sdhci-iproc.ko, which is "
                     "neither in the tree nor built in"]
    (kdir / "modules.builtin").write_text("kernel/drivers/mmc/host/sdhci-iproc.ko\n")
    assert size.problems(size.Tree.scan(rootfs), 100, FILTERS, size.required_modules()) == []


def test_over_the_budget_fails_and_the_report_says_where_the_space_goes(
        rootfs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(rootfs, f"{size.VENV_SITE}/av.libs/libavcodec.so", bytes(3 * size.MIB))
    image = tmp_path / "deskphone.img"
    image.write_bytes(bytes(4096))
    report = tmp_path / "size-report.json"
    assert size.main([str(rootfs), "--image", str(image), "--root-mib", "64",
                      "--report", str(report), "--budget-mib", "2"]) == 1
    data = json.loads(report.read_text())
    assert data["image_bytes"] == 4096 and data["image_xz_bytes"] is None
    assert data["root_partition_mib"] == 64 and data["budget_mib"] == 2
    assert data["root_used_bytes"] >= 3 * size.MIB
    assert data["venv_packages"][0] == {"package": "av", "bytes": 3 * size.MIB}
    venv_area = next(a for a in data["areas"] if a["area"].startswith("phone venv"))
    assert venv_area["bytes"] >= 3 * size.MIB
    assert any("over the budget of 2 MiB" in p for p in data["problems"])
    out = capsys.readouterr()
    assert "image-size: FAIL the root file system uses 3 MiB, over the budget" in out.err
    assert "phone venv (/opt/deskphone/venv)" in out.out


def test_usrmerge_paths_match_the_filters_written_for_lib() -> None:
    assert size.package_paths("usr/lib/firmware/brcm/x.bin") == [
        "/usr/lib/firmware/brcm/x.bin", "/lib/firmware/brcm/x.bin"]
    assert size.package_paths("etc/hostname") == ["/etc/hostname"]


def test_links_dpkg_leaves_of_excluded_docs_are_not_counted(rootfs: Path) -> None:
    # dpkg installs a package's symbolic links even where path-exclude dropped the files
    (rootfs / "usr/share/doc/python3/index.html").symlink_to("python-policy.html")
    assert size.problems(size.Tree.scan(rootfs), 100, FILTERS, size.required_modules()) == []
