#!/usr/bin/env bash
# The build host's packages for the SD image, in one place (boot/README.md lists the same).
#
#   boot/host-prereqs.sh [--install] build|test|all
#
# Checks that the tools `make image` (build) and `make image-test` (test) need are installed,
# and for build that binfmt_misc runs arm64 programs (qemu-user-static). Without --install it
# prints the one apt-get line and exits 1 when something is missing; with --install (as root)
# it runs apt-get update + install with that line and mounts/enables binfmt_misc, saying so.
# build-image.sh runs it first (with --install as root), image-test.sh checks with it; .ci/run
# runs --install all before make image.
set -euo pipefail

# package: the commands that prove it is installed
declare -A BUILD_PACKAGES=(
    [mmdebstrap]="mmdebstrap"
    [qemu-user-static]="qemu-aarch64-static"
    [binfmt-support]="update-binfmts"
    [genimage]="genimage"
    [dosfstools]="mkfs.vfat"
    [mtools]="mcopy"
    [e2fsprogs]="mke2fs"
    [xz-utils]="xz"
    [python3]="python3"
    [python3-venv]="python3"
    [git]="git"
)
declare -A TEST_PACKAGES=(
    [qemu-system-arm]="qemu-system-aarch64"
    [e2fsprogs]="debugfs"
    [mtools]="mtype mdir mcopy"
    [fdisk]="sfdisk"
    [coreutils]="timeout"
    [openssh-client]="ssh ssh-keygen"
)

INSTALL=0
if [ "${1:-}" = "--install" ]; then INSTALL=1; shift; fi
WHAT="${1:-all}"
case "$WHAT" in build|test|all) ;; *) echo "usage: $0 [--install] build|test|all" >&2; exit 2 ;; esac

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
missing=()
check() {
    local -n table="$1"
    local package tool
    for package in "${!table[@]}"; do
        for tool in ${table[$package]}; do
            if ! have "$tool"; then missing+=("$package"); break; fi
        done
    done
}
[ "$WHAT" = test ] || check BUILD_PACKAGES
[ "$WHAT" = build ] || check TEST_PACKAGES
# python3-venv has no command of its own: ensurepip is what the build's venv needs.
if [ "$WHAT" != test ] && have python3 && ! python3 -c 'import ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    line="apt-get install -y ${missing[*]}"
    if [ "$INSTALL" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then
        echo "host-prereqs: installing ${missing[*]} (needed by make image / make image-test)" >&2
        export DEBIAN_FRONTEND=noninteractive
        # Another apt-get (a CI job, a helper) may hold the dpkg lock: wait for it, not fail.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        # shellcheck disable=SC2086
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq ${missing[*]} >/dev/null
    else
        echo "host-prereqs: missing host packages for the image: ${missing[*]}; install them" \
             "with: sudo $line" >&2
        exit 1
    fi
fi

# arm64 programs in the chroot need binfmt_misc with an enabled qemu-aarch64 entry.
if [ "$WHAT" != test ] && [ "$(uname -m)" != aarch64 ]; then
    BINFMT_DIR="${DESKPHONE_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}"
    if [ ! -e "$BINFMT_DIR/status" ] && [ "$INSTALL" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then
        echo "host-prereqs: mounting binfmt_misc at $BINFMT_DIR (arm64 programs under qemu)" >&2
        mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" \
            || echo "host-prereqs: could not mount binfmt_misc at $BINFMT_DIR" >&2
    fi
    if [ -e "$BINFMT_DIR/status" ] && ! grep -qx enabled "$BINFMT_DIR/qemu-aarch64" 2>/dev/null \
            && [ "$INSTALL" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then
        echo "host-prereqs: enabling qemu-aarch64 in binfmt_misc (update-binfmts)" >&2
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
        # Some hosts (containers) do not run binfmt-support's service: import the entry.
        grep -qx enabled "$BINFMT_DIR/qemu-aarch64" 2>/dev/null \
            || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
    fi
fi
exit 0
