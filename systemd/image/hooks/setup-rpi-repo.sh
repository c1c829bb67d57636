#!/bin/bash
# mmdebstrap setup hook: add the Raspberry Pi archive (kernel, firmware, bootloader).
set -euo pipefail
ROOT=$1 MIRROR=$2
install -d "$ROOT/etc/apt/sources.list.d" "$ROOT/etc/apt/trusted.gpg.d"
echo "deb $MIRROR bookworm main" > "$ROOT/etc/apt/sources.list.d/raspi.list"
# the archive key must be present on the build host (package raspberrypi-archive-keyring)
cp /usr/share/keyrings/raspberrypi-archive-keyring.gpg "$ROOT/etc/apt/trusted.gpg.d/"
