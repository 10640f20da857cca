#!/usr/bin/env bash
# A throwaway one-node Ceph cluster (1 monitor, 1 memstore OSD, 1 radosgw) on 127.0.0.1, all state in
# one folder. Facts behind the settings: docs of the team in shared/notes/ceph-rgw.md.
#
#   ceph-rgw.sh start <dir>   prints ENDPOINT=, ACCESS_KEY=, SECRET_KEY= lines once the gateway answers
#   ceph-rgw.sh stop <dir>    stops the daemons it started, by their recorded pids (TERM, then KILL)
set -euo pipefail

cmd=${1:?start|stop} dir=${2:?folder}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() {
  for pidfile in "$dir"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# Starts a daemon in its own session and records its pid.
run() {
  local name=$1; shift
  setsid "$@" >"$dir/log/$name.out" 2>&1 < /dev/null &
  echo $! >"$dir/pids/$name.pid"
}

start() {
  mkdir -p "$dir"/{mon,osd,rgw,log,pids,run}
  local fsid mon_port rgw_port conf=$dir/ceph.conf
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  mon_port=$(free_port)
  rgw_port=$(free_port)
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $dir/\$name.keyring
log_file = $dir/log/\$name.log
admin_socket = $dir/run/\$name.asok
pid_file = $dir/run/\$name.pid
run_dir = $dir/run
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
paxos_propose_interval = 0.1
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[mon]
mon_data = $dir/mon/\$cluster-\$id
[osd]
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 4294967296
[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $dir/rgw
EOF
  local c=(-c "$conf")
  ceph-authtool --create-keyring "$dir/mon..keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/mon..keyring" --import-keyring "$dir/client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon "${c[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon..keyring" >/dev/null 2>&1
  run mon ceph-mon "${c[@]}" -f -i a

  local uuid secret id
  uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  secret=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$secret\"}" >"$dir/osd-secret.json"
  id=$(ceph "${c[@]}" --connect-timeout 30 osd new "$uuid" -i "$dir/osd-secret.json")
  mkdir -p "$dir/osd/ceph-$id"
  ceph-authtool --create-keyring "$dir/osd.$id.keyring" --name "osd.$id" --add-key "$secret" >/dev/null
  ceph-osd "${c[@]}" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
  run osd ceph-osd "${c[@]}" -f -i "$id"

  ceph "${c[@]}" auth get-or-create client.rgw.test mon 'allow rw' osd 'allow rwx' -o "$dir/client.rgw.test.keyring" >/dev/null
  run rgw radosgw "${c[@]}" -f -n client.rgw.test

  local access=backupdtestkey secret_key
  secret_key=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$rgw_port/" 2>/dev/null | grep -q ListAllMyBucketsResult && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$rgw_port/" | grep -q ListAllMyBucketsResult || { echo "radosgw did not answer; logs in $dir/log" >&2; exit 1; }
  radosgw-admin "${c[@]}" -n client.admin user create --uid=test --display-name=test \
    --access-key="$access" --secret-key="$secret_key" >/dev/null
  echo "ENDPOINT=http://127.0.0.1:$rgw_port"
  echo "ACCESS_KEY=$access"
  echo "SECRET_KEY=$secret_key"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop <dir>" >&2; exit 2 ;;
esac
