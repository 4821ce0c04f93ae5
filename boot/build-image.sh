#!/usr/bin/env bash
# Build a flashable SD card image of the deskphone for Raspberry Pi 3/3+/4/400/Zero 2 W from
# Debian 12 (bookworm) arm64 packages, on an x86_64 (or arm64) Debian host.
#
#   sudo boot/build-image.sh [--out DIR] [--mirror URL] [--size-root MiB] [--reuse-rootfs]
#                            [--cache DIR] [--from-worktree] [--no-xz]
#
# The firmware is built from the last commit (HEAD); --from-worktree uses the work tree as is.
# --reuse-rootfs skips mmdebstrap: it reinstalls the firmware (and any new pinned dependency)
# and boot/image/finish.sh (overlay, units, modes) into OUT/work/rootfs of an earlier run and
# re-assembles the image (~1 min).
# --cache DIR keeps the Debian part (rootfs + boot files) of a full build in DIR, keyed by a
# hash of everything that goes into it (package list, customize.sh, boot/rootfs file names,
# config.txt additions, pinned dependencies, mirror, suite) and the ISO week (security
# updates come in weekly); a later build with the same key starts from it like --reuse-rootfs.
# A miss (a clean machine) is a full build. Host packages missing: as root they are installed
# (boot/host-prereqs.sh, one line says which; DESKPHONE_NO_INSTALL=1 only prints the apt line).
#
# What it does, in order (each step prints a line; ~14 min on 2 cores x86_64: ~6 min packages,
# ~7 min building the initrd under qemu-user-static, ~1 min venv and pyalsaaudio):
#   1. preflight: root, tools, binfmt_misc with qemu-aarch64, free disk space;
#   2. wheelhouse: arm64 wheels of the firmware's pinned dependencies (firmware/pyproject.toml
#      plus boot/requirements-pi.txt), the firmware wheel itself; pyalsaaudio has no arm64
#      wheel and is compiled once inside the image, then cached in OUT/wheelhouse;
#   3. rootfs: mmdebstrap (bookworm, main + non-free-firmware, merged /usr without usrmerge):
#      systemd, linux-image-arm64, raspi-firmware, firmware-brcm80211, wpasupplicant,
#      python3-venv, with boot/image/dpkg-excludes.cfg's path filters (docs, translations,
#      kernel modules, device trees and firmware the Pi does not need); boot/rootfs overlay
#      (udev rules, sysusers, config.txt additions, fstab); the firmware venv in
#      /opt/deskphone/venv (C extensions without debug sections, no pip); deskphone.service
#      and deskphone-firstboot.service enabled;
#   4. partitions without loop devices or mounts: mkfs.vfat + mcopy (RASPIFIRM),
#      mke2fs -d (RASPIROOT), genimage assembles the MBR image;
#   5. size: boot/image_size.py prints what takes the space and fails the build over its
#      budget or when excluded files are back (boot/README.md, "What takes the space").
# Outputs in OUT (default out/image): deskphone.img, deskphone.img.xz and its .sha256 (unless
# --no-xz), size-report.json, plus vmlinuz, initrd.img and rootfs.ext4 for
# boot/image-test.sh. Nothing is
# written outside OUT (and the --cache DIR) except mmdebstrap's temporary files.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
OUT="$REPO/out/image"
MIRROR="http://deb.debian.org/debian"
SECURITY_MIRROR="http://deb.debian.org/debian-security"
SUITE="bookworm"
BOOT_MIB=256
ROOT_MIB=""          # default: used space + 15% + 128 MiB (first boot grows it to the card)
MIN_FREE_GIB=6
REUSE_ROOTFS=0
FROM_WORKTREE=0
CACHE=""
XZ=1

usage() { sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --mirror) MIRROR="$2"; shift 2 ;;
        --security-mirror) SECURITY_MIRROR="$2"; shift 2 ;;
        --size-root) ROOT_MIB="$2"; shift 2 ;;
        --reuse-rootfs) REUSE_ROOTFS=1; shift ;;
        --from-worktree) FROM_WORKTREE=1; shift ;;
        --cache) CACHE="$(realpath -m "$2")"; shift 2 ;;
        --no-xz) XZ=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-image: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

START=$(date +%s)
step() {
    local now=$(( $(date +%s) - START ))
    printf '[build-image %2d:%02d] %s\n' $((now / 60)) $((now % 60)) "$*"
}
die() { echo "build-image: error: $*" >&2; exit 1; }

# --- 1. preflight -------------------------------------------------------------------------
step "preflight (a full build takes ~14 minutes on 2 cores; from the cache or --reuse-rootfs about 1 minute)"
[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap --mode=root creates device nodes \
and file ownership for the image); try: sudo $0"
prereq_args=(build)
[ -n "${DESKPHONE_NO_INSTALL:-}" ] || prereq_args=(--install build)
"$HERE/host-prereqs.sh" "${prereq_args[@]}" || die "the build host lacks packages (see above)"
BINFMT_DIR="${DESKPHONE_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}"
MIN_FREE_GIB="${DESKPHONE_MIN_FREE_GIB:-$MIN_FREE_GIB}"
if [ "$(uname -m)" != "aarch64" ]; then
    if [ ! -e "$BINFMT_DIR/status" ]; then
        die "binfmt_misc is not mounted at $BINFMT_DIR, so arm64 programs cannot run in the \
chroot; run: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts \
--enable qemu-aarch64 (package qemu-user-static)"
    fi
    if ! grep -qx enabled "$BINFMT_DIR/qemu-aarch64" 2>/dev/null; then
        die "binfmt_misc has no enabled qemu-aarch64 entry in $BINFMT_DIR; run: apt-get install \
qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"
    fi
fi
mkdir -p "$OUT"
free_kib=$(df --output=avail -k "$OUT" | tail -1)
[ "$free_kib" -ge $((MIN_FREE_GIB * 1024 * 1024)) ] \
    || die "only $((free_kib / 1024)) MiB free in $OUT; the build needs ${MIN_FREE_GIB} GiB"


WORK="$OUT/work"
WHEELS="$OUT/wheelhouse"
ROOTFS="$WORK/rootfs"
if [ "$REUSE_ROOTFS" -eq 1 ]; then
    [ -x "$ROOTFS/opt/deskphone/venv/bin/python3" ] \
        || die "--reuse-rootfs: no finished rootfs with /opt/deskphone/venv in $ROOTFS"
else
    rm -rf "$WORK"
fi
mkdir -p "$WORK" "$WHEELS"

# --- 2. wheelhouse --------------------------------------------------------------------------
step "wheelhouse: arm64 wheels of the pinned dependencies into $WHEELS"
if [ -x "$REPO/.venv/bin/python" ]; then
    PIP=("$REPO/.venv/bin/python" -m pip)
else
    # A clean machine without `make test`'s venv: pip from a venv of our own (python3-venv).
    [ -x "$OUT/pip-venv/bin/python" ] || python3 -m venv "$OUT/pip-venv" \
        || die "python3 -m venv failed (apt-get install python3-venv)"
    PIP=("$OUT/pip-venv/bin/python" -m pip)
fi
python3 - "$REPO/firmware/pyproject.toml" "$HERE/requirements-pi.txt" > "$WORK/requirements.txt" <<'PY'
import sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
extra = [l.split("#")[0].strip() for l in open(sys.argv[2]) if l.split("#")[0].strip()]
for d in deps + extra:
    if "==" not in d:
        sys.exit(f"build-image: dependency {d!r} is not pinned with == (the image must be reproducible)")
    print(d)
PY
CACHE_FILE=""
if [ -n "$CACHE" ] && [ "$REUSE_ROOTFS" -eq 0 ]; then
    # Everything mmdebstrap and customize.sh put into the rootfs; finish.sh and the firmware
    # are applied again on every build, so they are not part of the key.
    key="$( {
        sed -n '/^PACKAGES=(/,/mmdebstrap failed/p' "$0"
        cat "$HERE/image/customize.sh" "$HERE/rootfs/etc/default/raspi-firmware-custom" \
            "$HERE/image/dpkg-excludes.cfg" \
            "$WORK/requirements.txt" "$HERE/constraints-arm64.txt"
        (cd "$HERE/rootfs" && find . | LC_ALL=C sort)
        echo "$MIRROR $SECURITY_MIRROR $SUITE $(date -u +%G-W%V)"
    } | sha256sum | cut -c1-16 )"
    CACHE_FILE="$CACHE/rootfs-$SUITE-arm64-$key.tar"
    if [ -f "$CACHE_FILE" ]; then
        step "cache: starting from $CACHE_FILE (same package list, hooks and week)"
        tar --numeric-owner --xattrs --xattrs-include='*' -C "$WORK" -xf "$CACHE_FILE" \
            || die "could not unpack $CACHE_FILE (remove it to rebuild)"
        REUSE_ROOTFS=1
        CACHE_FILE=""  # nothing new to store
    else
        step "cache: no $CACHE_FILE yet: a full build, stored there for the next one"
    fi
fi
grep -v '^pyalsaaudio==' "$WORK/requirements.txt" > "$WORK/requirements-binary.txt"
ALSA_PIN="$(grep '^pyalsaaudio==' "$WORK/requirements.txt")"
"${PIP[@]}" download -q --only-binary=:all: --python-version 3.11 --implementation cp \
    -c "$HERE/constraints-arm64.txt" \
    --platform manylinux_2_36_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_26_aarch64 \
    --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    -r "$WORK/requirements-binary.txt" -d "$WHEELS" \
    || die "pip could not fetch arm64 wheels for: $(tr '\n' ' ' < "$WORK/requirements-binary.txt")"
ALSA_VERSION="${ALSA_PIN#pyalsaaudio==}"
ALSA_WHEEL="$(ls "$WHEELS"/pyalsaaudio-"$ALSA_VERSION"-*aarch64*.whl 2>/dev/null | head -1 || true)"
if [ -z "$ALSA_WHEEL" ]; then
    "${PIP[@]}" download -q --no-deps --no-binary=:all: "$ALSA_PIN" -d "$WHEELS" \
        || die "pip could not fetch the $ALSA_PIN source"
    "${PIP[@]}" download -q --no-deps --only-binary=:all: -c "$HERE/constraints-arm64.txt" \
        setuptools wheel -d "$WHEELS" \
        || die "pip could not fetch setuptools/wheel for building $ALSA_PIN"
fi
rm -f "$WHEELS"/deskphone-*.whl
FIRMWARE_SRC="$REPO/firmware"
if [ "$FROM_WORKTREE" -eq 0 ] && git -C "$REPO" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    # The committed firmware, not whatever is half-edited in the work tree.
    rm -rf "$WORK/src"; mkdir -p "$WORK/src"
    git -C "$REPO" archive HEAD firmware | tar -x -C "$WORK/src"
    FIRMWARE_SRC="$WORK/src/firmware"
    step "wheelhouse: firmware from commit $(git -C "$REPO" rev-parse --short HEAD)"
fi
"${PIP[@]}" wheel -q --no-deps "$FIRMWARE_SRC" -w "$WHEELS" 2> "$WORK/wheel.log" \
    || { cat "$WORK/wheel.log" >&2; die "could not build the firmware wheel from $FIRMWARE_SRC"; }
step "wheelhouse: $(ls "$WHEELS" | wc -l) files"

if [ "$REUSE_ROOTFS" -eq 1 ]; then
    step "rootfs: reusing $ROOTFS; refreshing the firmware in /opt/deskphone/venv"
    mkdir -p "$ROOTFS/tmp/deskphone-wheelhouse"
    cp "$WHEELS"/* "$HERE/requirements-pi.txt" "$HERE/constraints-arm64.txt" \
        "$ROOTFS/tmp/deskphone-wheelhouse/"
    firmware_wheel="$(cd "$WHEELS" && ls deskphone-*.whl)"
    VPY=(chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
         /opt/deskphone/venv/bin/python3)
    VPIP=("${VPY[@]}" -m pip --disable-pip-version-check --no-cache-dir)
    # finish.sh takes pip out of the image; Debian's own wheel of it (python3-pip-whl) puts it
    # back for this install, offline.
    "${VPY[@]}" -c 'import pip' 2>/dev/null || "${VPY[@]}" -m ensurepip >/dev/null \
        || die "could not bootstrap pip in the reused venv (python3 -m ensurepip)"
    "${VPIP[@]}" install -q --no-index --find-links /tmp/deskphone-wheelhouse \
        "/tmp/deskphone-wheelhouse/$firmware_wheel" \
        -r /tmp/deskphone-wheelhouse/requirements-pi.txt \
        -c /tmp/deskphone-wheelhouse/constraints-arm64.txt \
        || die "could not install the firmware's dependencies into the reused rootfs"
    "${VPIP[@]}" install -q --no-index --no-deps --force-reinstall \
        "/tmp/deskphone-wheelhouse/$firmware_wheel" \
        || die "could not reinstall $firmware_wheel into the reused rootfs"
    "$HERE/image/finish.sh" "$ROOTFS" || die "boot/image/finish.sh failed on $ROOTFS"
else

# --- 3. rootfs ------------------------------------------------------------------------------
PACKAGES=(
    systemd systemd-sysv systemd-timesyncd systemd-resolved udev dbus kmod
    linux-image-arm64 initramfs-tools raspi-firmware firmware-brcm80211
    iproute2 wpasupplicant wireless-regdb ca-certificates fake-hwclock
    e2fsprogs dosfstools fdisk openssh-server
    python3 python3-venv libasound2 alsa-utils
)
# Installed for the build, purged at its end: binutils strips the debug sections of the venv's
# shared objects (customize.sh); the compiler only when pyalsaaudio has no wheel yet.
BUILD_ONLY=(binutils)
if [ -z "$ALSA_WHEEL" ]; then
    BUILD_ONLY+=(gcc libc6-dev python3-dev libasound2-dev)
fi
include="$(IFS=,; echo "${PACKAGES[*]}${BUILD_ONLY:+,}${BUILD_ONLY[*]:-}")"
step "rootfs: mmdebstrap $SUITE arm64 into $ROOTFS (${#PACKAGES[@]} packages + dependencies; \
~7 min of packages, then ~15 min for the initrd under qemu-user, then ~2 min for the venv)"
export DESKPHONE_HERE="$HERE" DESKPHONE_WHEELS="$WHEELS" DESKPHONE_ALSA_PIN="$ALSA_PIN"
export DESKPHONE_BUILD_ONLY="${BUILD_ONLY[*]:-}"
mmdebstrap --mode=root --architectures=arm64 --variant=minbase \
    --include="$include" \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt="$HERE/image/dpkg-excludes.cfg" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --setup-hook='mkdir -p "$1/boot/firmware" "$1/etc/default"' \
    --setup-hook='cp "$DESKPHONE_HERE/rootfs/etc/default/raspi-firmware-custom" "$1/etc/default/"' \
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
    --essential-hook='ln -s /bin/true "$1/usr/sbin/update-initramfs"' \
    --customize-hook='"$DESKPHONE_HERE/image/customize.sh" "$1"' \
    "$SUITE" "$ROOTFS" \
    "deb $MIRROR $SUITE main non-free-firmware" \
    "deb $MIRROR $SUITE-updates main non-free-firmware" \
    "deb $SECURITY_MIRROR $SUITE-security main non-free-firmware" \
    || die "mmdebstrap failed (see its output above)"
fi
# Keep the pyalsaaudio wheel compiled inside the image for the next build.
cp -n "$ROOTFS"/tmp/deskphone-wheelhouse/pyalsaaudio-*aarch64*.whl "$WHEELS"/ 2>/dev/null || true
rm -rf "$ROOTFS/tmp/deskphone-wheelhouse"
# mmdebstrap leaves the host's hostname and resolv.conf handling to us: set them last.
echo deskphone > "$ROOTFS/etc/hostname"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"

# --- 4. partitions and image ----------------------------------------------------------------
step "partitions: RASPIFIRM (vfat, ${BOOT_MIB} MiB) and RASPIROOT (ext4) without loop devices"
KVER="$(basename "$(ls -d "$ROOTFS"/lib/modules/* | sort -V | tail -1)")"
cp "$ROOTFS/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$OUT/initrd.img"
BOOTDIR="$WORK/bootfs"
if [ -n "$(ls -A "$ROOTFS/boot/firmware")" ]; then
    # The FAT partition's files leave the ext4 (the directory stays as its mount point).
    rm -rf "$BOOTDIR"; mv "$ROOTFS/boot/firmware" "$BOOTDIR"; mkdir -m 0755 "$ROOTFS/boot/firmware"
fi
[ -f "$BOOTDIR/config.txt" ] || die "raspi-firmware left no config.txt for the boot partition"
if [ -n "$CACHE_FILE" ]; then
    step "cache: storing rootfs and boot files in $CACHE_FILE"
    mkdir -p "$CACHE"
    rm -f "$CACHE"/rootfs-"$SUITE"-arm64-*.tar  # one entry: the key changes weekly anyway
    # A name of this build's own, renamed into place: two builds storing at once (two CI runs)
    # cannot mix their files, and a reader sees either no entry or a whole one.
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$WORK" -cf "$CACHE_FILE.tmp.$$" \
        rootfs bootfs && mv "$CACHE_FILE.tmp.$$" "$CACHE_FILE" \
        || { rm -f "$CACHE_FILE.tmp.$$"; die "could not store the cache in $CACHE_FILE"; }
fi
rm -f "$WORK/boot.vfat"
mkfs.vfat -C -n RASPIFIRM -F 32 "$WORK/boot.vfat" $((BOOT_MIB * 1024)) >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$WORK/boot.vfat" "$BOOTDIR"/* ::/
used_mib=$(( $(du -sx --block-size=1M "$ROOTFS" | cut -f1) ))
# Small: the image is written to every card whole, and deskphone-growroot.service gives the
# root file system the rest of the card on the first boot, before anything else writes to
# it. What ext4 needs beyond the files: the journal (16 MiB at this size), inode tables and
# bitmaps (~2 %), and room for what the first boot writes before growroot (journal in /run,
# host keys, first-boot results: well under 1 MiB); 5 % + 64 MiB covers it.
[ -n "$ROOT_MIB" ] || ROOT_MIB=$(( used_mib * 105 / 100 + 64 ))
# Inodes for the files there are and as many again for what the phone adds; a fixed ratio
# (mke2fs's 16 KiB a file) would leave a small file system short of them.
inodes=$(( $(find "$ROOTFS" -xdev | wc -l) * 2 ))
rm -f "$OUT/rootfs.ext4"
mke2fs -q -t ext4 -L RASPIROOT -N "$inodes" -E root_owner=0:0 -d "$ROOTFS" "$OUT/rootfs.ext4" "${ROOT_MIB}M" \
    || die "mke2fs could not populate a ${ROOT_MIB} MiB ext4 from $ROOTFS (used ${used_mib} MiB)"
cp "$WORK/boot.vfat" "$OUT/boot.vfat"
cat > "$WORK/genimage.cfg" <<EOF
image deskphone.img {
    hdimage {
        partition-table-type = "mbr"
    }
    partition RASPIFIRM {
        partition-type = 0xC
        bootable = "true"
        image = "boot.vfat"
        offset = 4M
    }
    partition RASPIROOT {
        partition-type = 0x83
        image = "rootfs.ext4"
    }
}
EOF
rm -rf "$WORK/genimage-tmp" "$OUT/deskphone.img"
mkdir -p "$WORK/empty-root"
genimage --config "$WORK/genimage.cfg" --inputpath "$OUT" --outputpath "$OUT" \
    --tmppath "$WORK/genimage-tmp" --rootpath "$WORK/empty-root" >/dev/null \
    || die "genimage failed to assemble $OUT/deskphone.img"
rm -f "$OUT/boot.vfat"
step "image: $OUT/deskphone.img ($(du -h --apparent-size "$OUT/deskphone.img" | cut -f1), \
kernel $KVER, root ${ROOT_MIB} MiB with ${used_mib} MiB used)"
# The rootfs stays in OUT/work for --reuse-rootfs; the temporary pieces go.
rm -rf "$WORK/genimage-tmp" "$WORK/empty-root" "$WORK/boot.vfat" "$WORK/src"
rm -f "$OUT/deskphone.img.xz" "$OUT/deskphone.img.xz.sha256"
if [ "$XZ" -eq 1 ]; then
    step "xz: compressing deskphone.img (xz -3 on all cores)"
    xz -3 -T0 -k -c "$OUT/deskphone.img" > "$OUT/deskphone.img.xz.tmp" \
        && mv "$OUT/deskphone.img.xz.tmp" "$OUT/deskphone.img.xz" || die "xz failed"
    (cd "$OUT" && sha256sum deskphone.img.xz > deskphone.img.xz.sha256)
    step "image: $OUT/deskphone.img.xz ($(du -m "$OUT/deskphone.img.xz" | cut -f1) MiB), \
sha256 $(cut -c1-16 "$OUT/deskphone.img.xz.sha256")... in deskphone.img.xz.sha256"
fi
# What takes the space, as a table and as OUT/size-report.json; over the budget, or with
# docs, foreign modules or apt caches back in the tree, the build fails (boot/image_size.py).
step "size: the root file system by area, package and venv package; checks against the budget"
size_args=(--image "$OUT/deskphone.img" --bootfs "$BOOTDIR" --root-mib "$ROOT_MIB"
           --report "$OUT/size-report.json")
[ "$XZ" -eq 0 ] || size_args+=(--xz "$OUT/deskphone.img.xz")
python3 "$HERE/image_size.py" "$ROOTFS" "${size_args[@]}" \
    || die "the image breaks its size rules (see image-size: FAIL above)"
step "done in $(( $(date +%s) - START )) s; flash with: make flash DEVICE=/dev/sdX"
