# shellcheck shell=bash
# Makes sure the servers the test suite needs are INSTALLED. Starting them is the tests' job
# (e.g. blob-testing's PostgresServer starts a private PostgreSQL on a free port), so a test run
# from an IDE behaves the same as bin/test.
#
# Adding a server: write one function test_server_NAME that returns 0 when the server is usable,
# installing it first if needed (via builderd_apt_install, or npm/Maven as that server needs), and
# add NAME to BUILDERD_TEST_SERVERS. Candidates: nginx (bench baseline), s3proxy, azurite, ceph.

BUILDERD_TEST_SERVERS=(postgresql ceph)

builderd_is_root() { [[ $(id -u) == 0 ]]; }

# Installs Debian packages when we are root; otherwise says what to install and fails, because
# a developer's machine should not be changed behind their back by a sudo prompt in a test script.
# `apt-get update` runs once per process: CI machines start with empty or stale package lists.
builderd_apt_install() {
  if ! builderd_is_root; then
    echo "bin/test: missing test servers; install them with: sudo apt-get install -y $*" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bin/test: missing test servers and no apt-get here; install the equivalent of the Debian packages: $*" >&2
    return 1
  fi
  echo "bin/test: installing $* (Debian packages) for the tests" >&2
  if [[ -z ${BUILDERD_APT_UPDATED:-} ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    BUILDERD_APT_UPDATED=1
  fi
  # </dev/null: CI has no stdin, and nothing here may wait for an answer.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl, postgres). Debian keeps them in a versioned folder
# that is not on PATH, so look there rather than `command -v initdb`.
builderd_pg_binaries_present() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

test_server_postgresql() {
  builderd_pg_binaries_present && return 0
  builderd_apt_install postgresql || return 1
  if ! builderd_pg_binaries_present; then
    echo "bin/test: installed the Debian package postgresql, yet no /usr/lib/postgresql/*/bin/initdb exists" >&2
    return 1
  fi
}

# Single-node Ceph (bin/lib/ceph-single-node.sh, started by blob-testing's CephServer): monitor,
# OSD, RADOS Gateway, the ceph/rados/radosgw-admin clients, and librados for the native store.
# Debian installs only librados.so.2 without librados-dev; the JNA bindings find it there.
builderd_ceph_present() {
  local b
  for b in ceph ceph-mon ceph-osd radosgw radosgw-admin rados monmaptool ceph-authtool; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
  compgen -G '/usr/lib/*/librados.so.2' >/dev/null || compgen -G '/usr/lib/librados.so.2' >/dev/null
}

test_server_ceph() {
  builderd_ceph_present && return 0
  builderd_apt_install ceph-mon ceph-osd radosgw ceph-common librados2 || return 1
  if ! builderd_ceph_present; then
    echo "bin/test: installed the Debian packages ceph-mon ceph-osd radosgw ceph-common librados2, yet a Ceph program or librados.so.2 is missing" >&2
    return 1
  fi
}

builderd_ensure_test_servers() {
  local server
  for server in "${BUILDERD_TEST_SERVERS[@]}"; do
    "test_server_${server}" || return 1
  done
}
