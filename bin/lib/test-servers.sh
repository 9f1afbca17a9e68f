# shellcheck shell=bash
# Makes sure the servers the test suite needs are INSTALLED. Starting them is the tests' job
# (e.g. blob-testing's PostgresServer starts a private PostgreSQL on a free port), so a test run
# from an IDE behaves the same as bin/test.
#
# Adding a server: write one function test_server_NAME that returns 0 when the server is usable,
# installing it first if needed (via builderd_apt_install, or npm/Maven as that server needs), and
# add NAME to BUILDERD_TEST_SERVERS. Candidates: nginx (bench baseline), s3proxy, ceph. Real clients
# the tests drive (ccache, turbo) are installed the same way.

BUILDERD_TEST_SERVERS=(postgresql azurite ceph ccache turbo prometheus acl systemd shellcheck)

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

# Azurite, the Azure Storage emulator (npm package azurite, pinned). It goes into a per-user cache
# directory, not target/ (which `mvn clean` wipes) and not the global npm prefix (which needs root
# and is shared). blob-testing's AzuriteServer looks in the same place: $BUILDERD_AZURITE_BIN if
# set, else $BUILDERD_AZURITE_DIR/node_modules/.bin/azurite-blob. Keep the version and the default
# directory in step with AzuriteServer.VERSION and AzuriteServer.defaultInstallDir().
BUILDERD_AZURITE_VERSION=3.37.0
builderd_azurite_dir() {
  echo "${BUILDERD_AZURITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/builderd/azurite-$BUILDERD_AZURITE_VERSION}"
}

test_server_azurite() {
  if [[ -n ${BUILDERD_AZURITE_BIN:-} ]]; then
    [[ -x $BUILDERD_AZURITE_BIN ]] && return 0
    echo "bin/test: BUILDERD_AZURITE_BIN=$BUILDERD_AZURITE_BIN is not an executable file" >&2
    return 1
  fi
  local dir
  dir=$(builderd_azurite_dir)
  [[ -x $dir/node_modules/.bin/azurite-blob ]] && return 0
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "bin/test: Azurite needs Node.js and npm; install them (Debian: apt-get install -y nodejs npm), then rerun" >&2
    return 1
  fi
  echo "bin/test: installing azurite@$BUILDERD_AZURITE_VERSION (npm) into $dir for the tests" >&2
  mkdir -p "$dir" || return 1
  # --prefix keeps it out of the global npm tree; Azurite declares Node >= 22 but its blob service
  # works on Node 20, so npm's engine warning is expected. </dev/null: nothing may wait for input.
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "azurite@$BUILDERD_AZURITE_VERSION" </dev/null >&2 || return 1
  if [[ ! -x $dir/node_modules/.bin/azurite-blob ]]; then
    echo "bin/test: installed azurite@$BUILDERD_AZURITE_VERSION, yet $dir/node_modules/.bin/azurite-blob is missing" >&2
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

# ccache (Debian) and the C compiler it wraps, for the build-tool cache test in which ccache
# compiles a small C project twice against the daemon (server's BuildToolCachesRealClientsHttpTest).
# Debian 12's ccache 4.7.5 has HTTP remote storage built in ("Features: ... http-storage").
test_server_ccache() {
  command -v ccache >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 && return 0
  builderd_apt_install ccache gcc libc6-dev || return 1
  if ! command -v ccache >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
    echo "bin/test: installed the Debian packages ccache gcc libc6-dev, yet ccache or gcc is not on PATH" >&2
    return 1
  fi
}

# setfacl and getfacl (Debian package acl): the tenant trees' POSIX ACLs are applied and read back
# with them (TenantIsolationTest, FilesystemIsolationHttpTest); without them those tests skip.
test_server_acl() {
  command -v setfacl >/dev/null 2>&1 && command -v getfacl >/dev/null 2>&1 && return 0
  builderd_apt_install acl || return 1
}

# systemd-analyze (Debian package systemd; nothing is started): SystemdUnitTest verifies
# deploy/systemd/builderd-storage.service with it. shellcheck checks deploy/systemd/install.sh.
test_server_systemd() {
  command -v systemd-analyze >/dev/null 2>&1 && return 0
  builderd_apt_install systemd || return 1
}

test_server_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  builderd_apt_install shellcheck || return 1
}

# Prometheus and promtool (Debian package prometheus): the suite checks and unit-tests the alert
# rules in deploy/prometheus with promtool, and lets a real Prometheus scrape a running daemon.
# Only the binaries are used; the tests start their own Prometheus on 127.0.0.1.
test_server_prometheus() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
  builderd_apt_install prometheus || return 1
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "bin/test: installed the Debian package prometheus, yet prometheus or promtool is not on PATH" >&2
    return 1
  fi
}

# Turborepo's CLI (npm package turbo, pinned; its linux binary comes as the optional dependency
# turbo-linux-64), for the test in which turbo runs a monorepo task twice against the daemon.
# Like Azurite it goes into a per-user cache directory; the test looks in the same place:
# $BUILDERD_TURBO_BIN if set, else $BUILDERD_TURBO_DIR/node_modules/.bin/turbo. Keep the version
# and the default directory in step with BuildToolCachesRealClientsHttpTest.TURBO_VERSION.
BUILDERD_TURBO_VERSION=2.8.17
builderd_turbo_dir() {
  echo "${BUILDERD_TURBO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/builderd/turbo-$BUILDERD_TURBO_VERSION}"
}

test_server_turbo() {
  if [[ -n ${BUILDERD_TURBO_BIN:-} ]]; then
    [[ -x $BUILDERD_TURBO_BIN ]] && return 0
    echo "bin/test: BUILDERD_TURBO_BIN=$BUILDERD_TURBO_BIN is not an executable file" >&2
    return 1
  fi
  local dir
  dir=$(builderd_turbo_dir)
  [[ -x $dir/node_modules/.bin/turbo ]] && return 0
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "bin/test: turbo needs Node.js and npm; install them (Debian: apt-get install -y nodejs npm), then rerun" >&2
    return 1
  fi
  echo "bin/test: installing turbo@$BUILDERD_TURBO_VERSION (npm) into $dir for the tests" >&2
  mkdir -p "$dir" || return 1
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "turbo@$BUILDERD_TURBO_VERSION" </dev/null >&2 || return 1
  if [[ ! -x $dir/node_modules/.bin/turbo ]]; then
    echo "bin/test: installed turbo@$BUILDERD_TURBO_VERSION, yet $dir/node_modules/.bin/turbo is missing" >&2
    return 1
  fi
}

builderd_ensure_test_servers() {
  local server
  for server in "${BUILDERD_TEST_SERVERS[@]}"; do
    "test_server_${server}" || return 1
  done
}
