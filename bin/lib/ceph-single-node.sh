#!/usr/bin/env bash
# A single-node Ceph 16 for tests: one monitor, one memstore OSD, one RADOS Gateway (S3 API), as
# plain processes from Debian's packages (ceph-mon ceph-osd radosgw ceph-common), bound to
# 127.0.0.1 only, no cephx (auth none). Everything lives under DIR: config, mon store, pid files
# (DIR/run/*.pid), logs (DIR/log/*.log).
#
#   bin/lib/ceph-single-node.sh start DIR [RGW_PORT]   # prints KEY=VALUE connection facts on stdout
#   bin/lib/ceph-single-node.sh stop DIR               # kills the daemons by pid file, removes DIR
#
# Output of start (stdout, one per line): CEPH_CONF, CEPH_MON_HOST, CEPH_FSID, CEPH_POOL,
# CEPH_USER, CEPH_RGW_ENDPOINT, CEPH_ACCESS_KEY, CEPH_SECRET_KEY, CEPH_START_SECONDS.
# Progress and errors go to stderr. On failure start exits non-zero, leaves DIR for inspection
# (the logs are there) after killing whatever it started.
#
# Facts this relies on (docs/backends.md, TEST-SERVERS.md): with auth none, all six
# `ms ... mode = crc` settings are needed or RGW hangs for 300 s; memstore takes long object
# names (osd max object name len = 2048), which RGW needs for keys of up to 900 characters.
set -euo pipefail

CEPH_POOL_NAME=builderd
CEPH_ACCESS_KEY_VALUE=builderd-test-access
CEPH_SECRET_KEY_VALUE=builderd-test-secret-0123456789abcdef
DEADLINE_SECONDS=${CEPH_SINGLE_NODE_DEADLINE:-120}
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
started_daemons=()

say() { echo "ceph-single-node: [$(date +%T.%N | cut -c1-12)] $*" >&2; }
die() { say "$*"; exit 1; }

# A TCP port on 127.0.0.1 that nobody answers on now (racy, like every "free port" probe).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

need() {
  local missing=() b
  for b in ceph ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool rados; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if ((${#missing[@]})); then
    die "missing programs: ${missing[*]}; install the Debian packages ceph-mon ceph-osd radosgw ceph-common librados2 (bin/test does, as root)"
  fi
}

now() { date +%s; }

# The daemons started so far (names as in their pid files) that are no longer running.
dead_daemons() {
  local name pid
  for name in "${started_daemons[@]}"; do
    pid=$(cat "$dir/run/$name.pid" 2>/dev/null || true)
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
      echo "$name"
    fi
  done
}

# Runs "$@" until it succeeds, failing at once when a daemon died (a port taken meanwhile, say)
# and after the deadline otherwise; either way it shows the end of the daemons' logs.
wait_for() {
  local what=$1; shift
  while ! "$@" >/dev/null 2>&1; do
    local dead
    dead=$(dead_daemons)
    if [[ -n $dead ]] || (($(now) >= deadline)); then
      if [[ -n $dead ]]; then
        say "waiting for $what: daemon(s) exited: $dead"
      else
        say "timed out after ${DEADLINE_SECONDS}s waiting for $what"
      fi
      local f
      for f in "$dir"/log/*.log "$dir"/log/daemons.out; do
        [[ -s $f ]] || continue
        echo "---- last lines of $f" >&2
        tail -n 15 "$f" >&2
      done
      return 1
    fi
    sleep 0.1
  done
}

# Launches a daemon (it forks into the background and writes its pid file a little later) and
# waits for that pid file, so that dead_daemons and stop can rely on it.
launch() {
  local name=$1; shift
  "$@" </dev/null >>"$dir/log/daemons.out" 2>&1
  while [[ ! -s $dir/run/$name.pid ]]; do
    if (($(now) >= deadline)); then
      say "$name did not write its pid file $dir/run/$name.pid"
      tail -n 15 "$dir/log/$name.log" "$dir/log/daemons.out" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
  started_daemons+=("$name")
}

# With CEPH_SINGLE_NODE_OWNER_PID set, a detached watchdog stops the cluster when that process
# ends without stopping it (a test JVM killed by a timeout, say), so no daemons outlive it.
start_watchdog() {
  local owner=${CEPH_SINGLE_NODE_OWNER_PID:-}
  [[ $owner =~ ^[0-9]+$ ]] || return 0
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [[ -e $2/ceph.conf ]]; do sleep 2; done
    [[ -e $2/ceph.conf ]] && CEPH_SINGLE_NODE_WATCHDOG=1 "$3" stop "$2"' \
    watchdog "$owner" "$dir" "$self" </dev/null >>"$dir/log/watchdog.out" 2>&1 &
  echo $! >"$dir/watchdog.pid"
}

# The pids in DIR's pid files.
pids_of() {
  local f pid
  for f in "$1"/run/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && echo "$pid"
  done
  return 0
}

# Waits up to $2 tenths of a second for every daemon of DIR $1 to be gone; fails if one remains.
await_gone() {
  local pid
  for _ in $(seq 1 "$2"); do
    local alive=0
    for pid in $(pids_of "$1"); do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  return 1
}

kill_all() {
  local d=$1 pid
  [[ -d $d/run ]] || return 0
  for pid in $(pids_of "$d"); do kill -TERM "$pid" 2>/dev/null || true; done
  # The cluster keeps nothing worth a clean shutdown (memstore): give TERM 1 s, then KILL.
  await_gone "$d" 10 && return 0
  say "daemons still running after TERM; sending KILL"
  for pid in $(pids_of "$d"); do kill -KILL "$pid" 2>/dev/null || true; done
  # Let the killed processes go before DIR is removed under them.
  await_gone "$d" 20 || true
}

cmd_stop() {
  local d=${1:?usage: stop DIR} pid
  if [[ -z ${CEPH_SINGLE_NODE_WATCHDOG:-} && -e $d/watchdog.pid ]]; then
    pid=$(cat "$d/watchdog.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null || true
  fi
  kill_all "$d"
  rm -rf -- "$d"
}

osd_up() { timeout 10 ceph osd stat -f json | grep -q '"num_up_osds":1'; }
# There is no mgr (it is not needed and would cost seconds), so `ceph pg stat` would hang: prove
# the pool is writable by writing and removing an object instead.
pool_writable() {
  echo probe | timeout 10 rados -p "$CEPH_POOL_NAME" put builderd-probe - &&
    timeout 10 rados -p "$CEPH_POOL_NAME" rm builderd-probe
}
# Any HTTP answer means RGW is up (bash's /dev/tcp: no curl needed on a fresh machine).
rgw_answers() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
    IFS= read -r line <&3 && [[ $line == HTTP/* ]]' rgw-probe "$rgw_port"
}

cmd_start() {
  dir=${1:?usage: start DIR [RGW_PORT]}
  rgw_port=${2:-}
  need
  local started
  started=$(now)
  deadline=$((started + DEADLINE_SECONDS))
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ -e $dir/ceph.conf ]] && die "$dir already holds a cluster; stop it first"
  mkdir -p "$dir"/{run,log,mon,osd,rgw}
  trap 'say "start failed; killing what started; logs kept in $dir/log"; kill_all "$dir"' ERR

  local mon_v2 mon_v1 fsid
  mon_v2=$(free_port); mon_v1=$(free_port)
  while [[ $mon_v1 == "$mon_v2" ]]; do mon_v1=$(free_port); done
  [[ -n $rgw_port ]] || rgw_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)

  # Keep the client tools of this script on our cluster only.
  export CEPH_CONF=$dir/ceph.conf
  unset CEPH_ARGS
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
run dir = $dir/run
admin socket = $dir/run/\$cluster-\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = false
keyring = $dir/keyring
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd pool default pg num = 1
osd pool default pgp num = 1
# Speed: the monitor batches map changes for 1 s by default; RGW creates ~6 pools one by one.
paxos propose interval = 0.05
paxos min wait = 0.01
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd max object name len = 2048
osd max object namespace len = 64
mon max pg per osd = 1000
osd op num threads per shard = 1

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
EOF

  say "monitor on 127.0.0.1:$mon_v2 (v2) / $mon_v1 (v1)"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
  launch mon.a ceph-mon -i a
  wait_for "the monitor" timeout 10 ceph --connect-timeout 5 health

  local osd_uuid osd_id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(timeout 30 ceph osd new "$osd_uuid")
  mkdir -p "$dir/osd/ceph-$osd_id"
  ceph-osd --mkfs -i "$osd_id" --osd-uuid "$osd_uuid" >/dev/null 2>&1
  timeout 30 ceph osd crush add "osd.$osd_id" 1.0 host=localhost root=default >/dev/null 2>&1
  launch "osd.$osd_id" ceph-osd -i "$osd_id"
  say "OSD $osd_id starting"
  wait_for "the OSD to be up" osd_up

  say "OSD up; creating pool"
  timeout 30 ceph osd pool create "$CEPH_POOL_NAME" 4 4 >/dev/null 2>&1
  timeout 30 ceph osd pool application enable "$CEPH_POOL_NAME" rados >/dev/null 2>&1

  launch client.rgw.a radosgw -n client.rgw.a
  say "RADOS Gateway starting on 127.0.0.1:$rgw_port"
  wait_for "the RADOS Gateway to answer HTTP" rgw_answers
  say "RGW answers; creating the S3 user"
  timeout 60 radosgw-admin user create --uid=builderd --display-name=builderd \
    --access-key="$CEPH_ACCESS_KEY_VALUE" --secret-key="$CEPH_SECRET_KEY_VALUE" >/dev/null 2>"$dir/log/user-create.err"
  wait_for "the pool $CEPH_POOL_NAME to take writes" pool_writable
  say "ready"
  trap - ERR
  start_watchdog

  cat <<EOF
CEPH_CONF=$CEPH_CONF
CEPH_MON_HOST=[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
CEPH_FSID=$fsid
CEPH_POOL=$CEPH_POOL_NAME
CEPH_USER=client.admin
CEPH_RGW_ENDPOINT=http://127.0.0.1:$rgw_port
CEPH_ACCESS_KEY=$CEPH_ACCESS_KEY_VALUE
CEPH_SECRET_KEY=$CEPH_SECRET_KEY_VALUE
CEPH_START_SECONDS=$(($(now) - started))
EOF
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) echo "usage: $0 start DIR [RGW_PORT] | stop DIR" >&2; exit 2 ;;
esac
