#!/usr/bin/env bash
# Whole-node disaster-recovery copy of a Builderd Storage data root on ZFS: snapshot, copy the
# snapshot with restic, drop older snapshots. It complements `builderd backup` (per-tenant,
# point-in-time, online restore) with a crash-consistent image of everything on the node,
# the SQLite metadata and the key directory included. SQLite in WAL mode recovers from such an
# image as from a power cut.
#
# NOT TESTED on the project's CI machines: they have no ZFS. Read before you run it.
#
# Usage: zfs-snapshot-backup.sh DATASET RESTIC_REPOSITORY [KEEP]
#   DATASET            the dataset mounted at the data root, such as tank/builderd
#   RESTIC_REPOSITORY  where restic stores the copy (RESTIC_PASSWORD or RESTIC_PASSWORD_FILE must be set)
#   KEEP               how many builderd-* snapshots to keep on the pool (default 7)
set -euo pipefail
dataset=${1:?usage: $0 DATASET RESTIC_REPOSITORY [KEEP]}
repository=${2:?usage: $0 DATASET RESTIC_REPOSITORY [KEEP]}
keep=${3:-7}
name="builderd-$(date -u +%Y%m%dT%H%M%SZ)"

zfs snapshot "${dataset}@${name}"
mountpoint=$(zfs get -H -o value mountpoint "$dataset")
# The snapshot is read-only and stable: the daemon keeps serving meanwhile.
restic -r "$repository" backup --tag builderd --host "$(hostname)" "${mountpoint}/.zfs/snapshot/${name}"

zfs list -H -t snapshot -o name -s creation "$dataset" | grep "@builderd-" | head -n "-${keep}" | while read -r old; do
    zfs destroy "$old"
done
