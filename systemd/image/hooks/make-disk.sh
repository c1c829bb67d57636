#!/bin/bash
# Partition an image: 1 boot (FAT32, 512 MiB), 2 rootA, 3 rootB (ext4, ROOT_MB each),
# 4 data (ext4, 1 GiB, grows on first boot). Root A gets the rootfs; B stays empty until the
# first update. cmdline.txt picks root by PARTUUID; tryboot.txt points at the other slot.
set -euo pipefail
TAR=$1 IMG=$2 ROOT_MB=$3
SIZE_MB=$((512 + 2 * ROOT_MB + 1024 + 4))
truncate -s "${SIZE_MB}M" "$IMG"
parted -s "$IMG" mklabel msdos \
  mkpart primary fat32 4MiB 516MiB \
  mkpart primary ext4 516MiB $((516 + ROOT_MB))MiB \
  mkpart primary ext4 $((516 + ROOT_MB))MiB $((516 + 2 * ROOT_MB))MiB \
  mkpart primary ext4 $((516 + 2 * ROOT_MB))MiB 100%
LOOP=$(losetup --show -fP "$IMG")
trap 'umount -R "$MNT" 2>/dev/null || true; losetup -d "$LOOP"' EXIT
mkfs.vfat -F 32 -n HS_BOOT "${LOOP}p1"
mkfs.ext4 -q -L HS_ROOTA "${LOOP}p2"
mkfs.ext4 -q -L HS_ROOTB "${LOOP}p3"
mkfs.ext4 -q -L HS_DATA "${LOOP}p4"
MNT=$(mktemp -d)
mount "${LOOP}p2" "$MNT"
tar -C "$MNT" -xpf "$TAR"
mkdir -p "$MNT/boot/firmware"
mount "${LOOP}p1" "$MNT/boot/firmware"
cp -r "$MNT"/usr/lib/raspi-firmware/* "$MNT/boot/firmware/" 2>/dev/null || true
echo "console=tty3 root=LABEL=HS_ROOTA rootfstype=ext4 fsck.repair=yes rootwait quiet" > "$MNT/boot/firmware/cmdline.txt"
cat > "$MNT/boot/firmware/config.txt" <<'CFG'
arm_64bit=1
[all]
# A/B: the update agent writes tryboot.txt (pointing at the other slot) and reboots with
# `reboot "0 tryboot"`; the firmware uses it once. A healthy boot (helserom doctor + /healthz)
# then makes it permanent; a failed boot falls back to this file.
CFG
echo "done: $IMG"
