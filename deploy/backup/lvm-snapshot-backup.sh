#!/usr/bin/env bash
# Whole-node disaster-recovery copy of a Builderd Storage data root on LVM: a copy-on-write
# snapshot of the logical volume, mounted read-only, copied with restic, then removed. It
# complements `builderd backup` (per-tenant, point-in-time, online restore) with a
# crash-consistent image of the whole node, the SQLite metadata and the key directory included.
#
# NOT TESTED on the project's CI machines: they have no LVM volumes. Read before you run it.
#
# Usage: lvm-snapshot-backup.sh VG/LV RESTIC_REPOSITORY [SNAPSHOT_SIZE]
#   VG/LV              the logical volume mounted at the data root, such as vg0/builderd
#   RESTIC_REPOSITORY  where restic stores the copy (RESTIC_PASSWORD or RESTIC_PASSWORD_FILE must be set)
#   SNAPSHOT_SIZE      room for blocks written while the copy runs (default 10G); a snapshot
#                      that fills up becomes invalid and the copy fails, never the daemon
set -euo pipefail
volume=${1:?usage: $0 VG/LV RESTIC_REPOSITORY [SNAPSHOT_SIZE]}
repository=${2:?usage: $0 VG/LV RESTIC_REPOSITORY [SNAPSHOT_SIZE]}
size=${3:-10G}
snapshot="builderd-snap-$(date -u +%Y%m%dT%H%M%SZ)"
mountpoint=$(mktemp -d)

cleanup() {
    umount "$mountpoint" 2>/dev/null || true
    rmdir "$mountpoint" 2>/dev/null || true
    lvremove -f "${volume%/*}/${snapshot}" 2>/dev/null || true
}
trap cleanup EXIT

lvcreate --snapshot --name "$snapshot" --size "$size" "$volume"
# norecovery/nouuid are for XFS; ext4 mounts read-only with noload.
fstype=$(blkid -o value -s TYPE "/dev/${volume%/*}/${snapshot}")
case "$fstype" in
    xfs) mount -o ro,norecovery,nouuid "/dev/${volume%/*}/${snapshot}" "$mountpoint" ;;
    *) mount -o ro,noload "/dev/${volume%/*}/${snapshot}" "$mountpoint" ;;
esac
restic -r "$repository" backup --tag builderd --host "$(hostname)" "$mountpoint"
