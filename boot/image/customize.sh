#!/usr/bin/env bash
# mmdebstrap --customize-hook of boot/build-image.sh: runs on the build host with the arm64
# rootfs directory as $1, after every package is installed (chroot commands run under
# qemu-user-static). Environment from build-image.sh: DESKPHONE_HERE (boot/),
# DESKPHONE_WHEELS (wheelhouse), DESKPHONE_ALSA_PIN, DESKPHONE_BUILD_ONLY (packages to purge).
set -euo pipefail
ROOT="$1"
HERE="$DESKPHONE_HERE"
say() { echo "[customize] $*"; }
# A clean environment: the build host's PIP_*, PYTHON* and locale settings stay outside.
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }

say "raspi-firmware: root by label, console on the UART, regenerate config.txt/cmdline.txt"
sed -i -e 's|^#\{0,1\}ROOTPART=.*|ROOTPART=LABEL=RASPIROOT|' "$ROOT/etc/default/raspi-firmware"
grep -q '^ROOTPART=LABEL=RASPIROOT' "$ROOT/etc/default/raspi-firmware" \
    || echo 'ROOTPART=LABEL=RASPIROOT' >> "$ROOT/etc/default/raspi-firmware"
KVER="$(basename "$(ls -d "$ROOT"/lib/modules/* | sort -V | tail -1)")"
if [ -e "$ROOT/usr/sbin/update-initramfs.distrib" ]; then
    # build-image.sh diverted update-initramfs while packages were installed: each kernel,
    # firmware and udev trigger would otherwise rebuild the initrd (MODULES=most, ~20 min a
    # run under qemu-user). Build it once, now that everything is in place.
    # MODULES=most minus its "net" class: ~460 Ethernet/PHY drivers that only a root file
    # system on the network needs (NFS), half of the modules and of the time under qemu-user.
    # The phone boots from its card (or a USB disk): the other classes of "most" stay, added by
    # initramfs-tools' own auto_add_modules in a hook, then its softdeps (hidden_dep_add_modules).
    say "initramfs: MODULES=most without network-root drivers (conf.d + hooks/deskphone-modules)"
    install -d -m 0755 "$ROOT/etc/initramfs-tools/conf.d" "$ROOT/etc/initramfs-tools/hooks"
    cat > "$ROOT/etc/initramfs-tools/conf.d/deskphone-modules" <<'EOF'
# deskphone (boot/image/customize.sh): the classes of MODULES=most except "net" (network root
# file systems only); hooks/deskphone-modules adds them.
MODULES=list
EOF
    cat > "$ROOT/etc/initramfs-tools/hooks/deskphone-modules" <<'EOF'
#!/bin/sh
# deskphone (boot/image/customize.sh): MODULES=most without its "net" class; see
# conf.d/deskphone-modules. Same function and class names as mkinitramfs's MODULES=most.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
auto_add_modules base ide scsi block ata dasd firewire mmc usb_storage fb
hidden_dep_add_modules
EOF
    chmod 0755 "$ROOT/etc/initramfs-tools/hooks/deskphone-modules"
    say "initramfs: one update-initramfs -c -k $KVER (the slowest step under qemu-user)"
    rm -f "$ROOT/usr/sbin/update-initramfs"
    in_root dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
    # Silent for ~15 minutes otherwise: a line a minute says it is still going.
    ( n=0; while sleep 60; do n=$((n + 1)); say "initramfs: still building ($n min; ~8 min on 2 cores)"; done ) &
    ticker=$!
    in_root update-initramfs -c -k "$KVER" || { kill "$ticker"; exit 1; }
    kill "$ticker" 2>/dev/null || true
fi
in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware "$KVER"

say "venv: /opt/deskphone/venv from the wheelhouse (no network)"
mkdir -p "$ROOT/tmp/deskphone-wheelhouse"
cp "$DESKPHONE_WHEELS"/* "$ROOT/tmp/deskphone-wheelhouse/"
in_root python3 -m venv /opt/deskphone/venv
PIP=(/opt/deskphone/venv/bin/python3 -m pip --disable-pip-version-check --no-cache-dir)
if ! ls "$ROOT"/tmp/deskphone-wheelhouse/pyalsaaudio-*aarch64*.whl >/dev/null 2>&1; then
    say "venv: compiling $DESKPHONE_ALSA_PIN for arm64 (no wheel on PyPI)"
    # --use-pep517: bookworm's pip 23.0 would otherwise run setup.py bdist_wheel with the
    # venv's own setuptools, which cannot build wheels without the `wheel` package.
    in_root "${PIP[@]}" wheel -q --use-pep517 --no-index --find-links /tmp/deskphone-wheelhouse \
        --no-deps "$DESKPHONE_ALSA_PIN" -w /tmp/deskphone-wheelhouse
fi
firmware_wheel="$(cd "$ROOT/tmp/deskphone-wheelhouse" && ls deskphone-*.whl)"
cp "$HERE/requirements-pi.txt" "$HERE/constraints-arm64.txt" "$ROOT/tmp/deskphone-wheelhouse/"
in_root "${PIP[@]}" install -q --no-index --find-links /tmp/deskphone-wheelhouse \
    "/tmp/deskphone-wheelhouse/$firmware_wheel" -r /tmp/deskphone-wheelhouse/requirements-pi.txt \
    -c /tmp/deskphone-wheelhouse/constraints-arm64.txt
# Wheels ship their C extensions with debug sections (PyAV's 43 MiB are 19 without, uvloop's
# 14 are 2): GNU strip --strip-debug keeps the symbols and the RPATHs auditwheel set, and
# the import and Opus round trip below prove the stripped objects still load and work.
say "venv: strip --strip-debug of the shared objects of the venv"
in_root find /opt/deskphone/venv -type f -name '*.so*' -exec strip --strip-debug {} +
in_root /opt/deskphone/venv/bin/python3 -c '
import deskphone, gpiozero, gpiod, alsaaudio, luma.oled, PIL.Image, cryptography.hazmat.bindings._rust
import pylibsrtp, google_crc32c, zeroconf, uvloop, av
from deskphone.media.codecs.opus import OpusCodec
codec = OpusCodec()
assert codec.decode(codec.encode(bytes(1920))), "Opus round trip gave nothing"
print("venv imports ok, Opus round trip ok")'

"$HERE/image/finish.sh" "$ROOT"

say "cleanup: purging build-only packages (${DESKPHONE_BUILD_ONLY:-none}) and what only they needed"
# apt keeps automatically installed packages that something merely recommends or suggests
# (dpkg suggests binutils): nothing here is installed for a recommendation, so not those.
# shellcheck disable=SC2086
in_root apt-get purge -y -qq --autoremove -o APT::AutoRemove::RecommendsImportant=false \
    -o APT::AutoRemove::SuggestsImportant=false ${DESKPHONE_BUILD_ONLY:-} >/dev/null
for gone in binutils gcc; do
    if [ "$(in_root dpkg-query -W -f '${db:Status-Status}' "$gone" 2>/dev/null)" = installed ]; then
        echo "customize: $gone is still installed after the cleanup" >&2; exit 1
    fi
done
in_root apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/*.log "$ROOT"/var/cache/debconf/*-old \
    "$ROOT"/var/lib/dpkg/*-old
