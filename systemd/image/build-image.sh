#!/bin/bash
# Build an arm64 Raspberry Pi image (Debian bookworm + Raspberry Pi firmware/kernel) with the
# Helserom Gateway preinstalled, using mmdebstrap. Run on Debian bookworm as root:
#   apt install mmdebstrap qemu-user-static binfmt-support arch-test dosfstools e2fsprogs \
#       parted fdisk uidmap
#   systemd/image/build-image.sh OUT_DIR
# On an arm64 host no emulation is needed. The image has two root partitions (A/B) and a data
# partition for /var/lib/helserom; see docs/deployment.md ("Updates").
set -euo pipefail

OUT=${1:?usage: build-image.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
RPI_MIRROR=${RPI_MIRROR:-http://archive.raspberrypi.com/debian}
ROOT_MB=${ROOT_MB:-3072}
mkdir -p "$OUT"

arch-test arm64 >/dev/null || { echo "cannot run arm64 binaries: install qemu-user-static + binfmt-support" >&2; exit 2; }

# 1. the root file system as a tarball
mmdebstrap --architectures=arm64 --variant=important \
  --include="$(tr '\n' ',' < "$HERE/packages.txt")" \
  --setup-hook="$HERE/hooks/setup-rpi-repo.sh \"\$1\" $RPI_MIRROR" \
  --customize-hook="$HERE/hooks/customize.sh \"\$1\" $REPO" \
  "$SUITE" "$OUT/rootfs.tar" \
  "deb $MIRROR $SUITE main contrib non-free-firmware" \
  "deb $MIRROR $SUITE-updates main contrib non-free-firmware" \
  "deb http://security.debian.org/debian-security $SUITE-security main contrib non-free-firmware"

# 2. the disk image: boot (FAT, tryboot-capable), rootA, rootB, data
"$HERE/hooks/make-disk.sh" "$OUT/rootfs.tar" "$OUT/helserom-rpi-arm64.img" "$ROOT_MB"
sha256sum "$OUT/helserom-rpi-arm64.img" > "$OUT/helserom-rpi-arm64.img.sha256"
echo "built $OUT/helserom-rpi-arm64.img"
