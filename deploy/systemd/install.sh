#!/usr/bin/env bash
# Installs Builderd Storage as the hardened systemd service of builderd-storage.service (beside
# this script): creates the system user, the data root 0700 and the root-only secrets file, and
# installs the unit. Run as root; running it again changes nothing that is already right.
#
#   deploy/systemd/install.sh [--tenant-owned-workspaces]
#
# --tenant-owned-workspaces  also installs tenant-owned-workspaces.conf (builds under per-tenant
#                            UIDs: docs/security-filesystem.md) and its workspace root, 0711.
#
# Environment: DESTDIR  install below this directory instead of / (the user is still created on
#                       this machine; used by the tests and by packagers)
#              BUILDERD_USER  the service user (default builderd; the unit's User= and Group= follow)
#
# The jar is not installed here: copy server/target/builderd-server.jar and server/target/lib/
# to /opt/builderd/, then `systemctl enable --now builderd-storage`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
destdir=${DESTDIR:-}
user=${BUILDERD_USER:-builderd}
tenant_owned=false

for argument in "$@"; do
  case $argument in
    --tenant-owned-workspaces) tenant_owned=true ;;
    -h | --help)
      sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install.sh: unknown argument '$argument' (see --help)" >&2
      exit 2
      ;;
  esac
done

if [[ $(id -u) != 0 ]]; then
  echo "install.sh: run as root (it creates a system user and root-owned files)" >&2
  exit 1
fi
if [[ ! $user =~ ^[a-z_][a-z0-9_-]{0,30}$ ]]; then
  echo "install.sh: BUILDERD_USER='$user' is not a valid user name" >&2
  exit 2
fi

data_root=/var/lib/builderd
work_root=/var/lib/builderd-work
unit_dir=$destdir/etc/systemd/system

# The service user: a system account without a login shell, its home the data root.
if ! getent passwd "$user" >/dev/null; then
  useradd --system --user-group --home-dir "$data_root" --no-create-home --shell /usr/sbin/nologin "$user"
  echo "install.sh: created the system user $user"
fi

# directory PATH MODE OWNER: creates PATH if missing, then sets its mode and owner (again).
directory() {
  install -d -m "$2" -o "${3%%:*}" -g "${3##*:}" "$1"
}

directory "$destdir$data_root" 0700 "$user:$user"
# Secrets for the unit's EnvironmentFile=: root reads it before the service drops to $user.
directory "$destdir/etc/builderd" 0755 root:root
if [[ ! -e $destdir/etc/builderd/builderd.env ]]; then
  install -m 0600 -o root -g root /dev/null "$destdir/etc/builderd/builderd.env"
  printf '%s\n' "# Secrets of builderd-storage.service, one VARIABLE=value a line (root only, 0600)." \
    "# UNKEY_BUILDERD_ADMIN_TOKEN=..." >"$destdir/etc/builderd/builderd.env"
fi
chmod 0600 "$destdir/etc/builderd/builderd.env"

directory "$unit_dir" 0755 root:root
# The unit names the user builderd; another BUILDERD_USER is written into the installed copy.
sed -e "s/^User=builderd\$/User=$user/" -e "s/^Group=builderd\$/Group=$user/" \
  "$here/builderd-storage.service" >"$unit_dir/builderd-storage.service"
chmod 0644 "$unit_dir/builderd-storage.service"

if [[ $tenant_owned == true ]]; then
  # Tenants' users pass through the workspace root to their own trees (0711: enter, not list).
  directory "$destdir$work_root" 0711 "$user:$user"
  directory "$unit_dir/builderd-storage.service.d" 0755 root:root
  install -m 0644 -o root -g root "$here/tenant-owned-workspaces.conf" "$unit_dir/builderd-storage.service.d/"
fi

if [[ -z $destdir ]] && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
fi
echo "install.sh: installed builderd-storage.service into $unit_dir (data root $destdir$data_root)"
