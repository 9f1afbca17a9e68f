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
# `ms ... mode = crc` settings are needed or RGW hangs for 300 s; memstore needs short object
# names (osd max object name len = 460).
set -euo pipefail

CEPH_POOL_NAME=builderd
CEPH_ACCESS_KEY_VALUE=builderd-test-access
CEPH_SECRET_KEY_VALUE=builderd-test-secret-0123456789abcdef
DEADLINE_SECONDS=${CEPH_SINGLE_NODE_DEADLINE:-120}

say() { echo "ceph-single-node: $*" >&2; }
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

# Runs "$@" until it succeeds or the deadline passes.
wait_for() {
  local what=$1; shift
  while ! "$@" >/dev/null 2>&1; do
    if (($(now) >= deadline)); then
      say "timed out waiting for $what (logs in $dir/log)"
      return 1
    fi
    sleep 0.2
  done
}

kill_all() {
  local d=$1 f pid
  [[ -d $d/run ]] || return 0
  for f in "$d"/run/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null || true
  done
  # The cluster keeps nothing worth a clean shutdown (memstore): give TERM 1 s, then KILL.
  for _ in $(seq 1 10); do
    local alive=0
    for f in "$d"/run/*.pid; do
      [[ -e $f ]] || continue
      pid=$(cat "$f" 2>/dev/null || true)
      [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || return 0
    sleep 0.1
  done
  say "daemons still running after TERM; sending KILL"
  for f in "$d"/run/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done
}

cmd_stop() {
  local d=${1:?usage: stop DIR}
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
rgw_answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$rgw_port/"; }

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
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd max object name len = 460
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
  ceph-mon -i a </dev/null >>"$dir/log/daemons.out" 2>&1
  wait_for "the monitor" timeout 10 ceph --connect-timeout 5 health

  local osd_uuid osd_id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(timeout 30 ceph osd new "$osd_uuid")
  mkdir -p "$dir/osd/ceph-$osd_id"
  ceph-osd --mkfs -i "$osd_id" --osd-uuid "$osd_uuid" >/dev/null 2>&1
  timeout 30 ceph osd crush add "osd.$osd_id" 1.0 host=localhost root=default >/dev/null 2>&1
  ceph-osd -i "$osd_id" </dev/null >>"$dir/log/daemons.out" 2>&1
  say "OSD $osd_id starting"
  wait_for "the OSD to be up" osd_up

  timeout 30 ceph osd pool create "$CEPH_POOL_NAME" 8 8 >/dev/null 2>&1
  timeout 30 ceph osd pool application enable "$CEPH_POOL_NAME" rados >/dev/null 2>&1

  radosgw -n client.rgw.a </dev/null >>"$dir/log/daemons.out" 2>&1
  say "RADOS Gateway starting on 127.0.0.1:$rgw_port"
  wait_for "the RADOS Gateway to answer HTTP" rgw_answers
  timeout 60 radosgw-admin user create --uid=builderd --display-name=builderd \
    --access-key="$CEPH_ACCESS_KEY_VALUE" --secret-key="$CEPH_SECRET_KEY_VALUE" >/dev/null 2>"$dir/log/user-create.err"
  wait_for "the pool $CEPH_POOL_NAME to take writes" pool_writable
  trap - ERR

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
