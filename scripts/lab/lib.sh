# Shared functions of the two-daemon libvirt lab (sourced by up.sh, down.sh, restart-daemon.sh, daemon.sh).
# See up.sh for what the lab is and how tests find it.

VIGIL_LAB_DIR="${VIGIL_LAB_DIR:-/run/vigil-lab}"
LAB_PACKAGES="libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils tini"
# Fixed, distinct host UUIDs: libvirt refuses a migration between daemons with the same host_uuid
# ("same host"), and rejects UUIDs whose digits are all identical.
HOST1_UUID="7669676c-6c61-4201-8000-000000000001"
HOST2_UUID="7669676c-6c61-4201-8000-000000000002"
MIGRATION_URI="tcp://127.0.0.1"
DAEMON_READY_TIMEOUT_SECONDS="${DAEMON_READY_TIMEOUT_SECONDS:-90}"
DAEMON_STOP_TIMEOUT_SECONDS=20

log() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }

# Serializes up.sh, down.sh and restart-daemon.sh (tests may call up.sh from several processes).
# The lock lives beside the lab directory because down.sh removes the directory.
take_lab_lock() {
  exec 9>"${VIGIL_LAB_DIR}.lock"
  flock 9
}

# Checks a script's host argument (host1 or host2) and that the lab is set up; dies with
# "usage: SCRIPT $LAB_USAGE" (default "host1|host2") otherwise.
require_lab_host() {
  [ "${1:-}" = host1 ] || [ "${1:-}" = host2 ] || die "usage: $0 ${LAB_USAGE:-host1|host2}"
  [ -d "$(host_dir "$1")/etc" ] || die "$1: the lab is not set up; run scripts/lab/up.sh"
}

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts libvirtd)"
}

host_dir() { echo "$VIGIL_LAB_DIR/$1"; }
host_socket() { echo "$(host_dir "$1")/run/libvirt-sock"; }
host_uri() { echo "qemu+unix:///system?socket=$(host_socket "$1")"; }
host_uuid() { if [ "$1" = host1 ]; then echo "$HOST1_UUID"; else echo "$HOST2_UUID"; fi; }
tini_pid_file() { echo "$(host_dir "$1")/tini.pid"; }

# Installs the lab's Debian packages when any is missing; `apt-get update` only in that case.
ensure_packages() {
  local missing=""
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
  done
  if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
  fi
}

# The QEMU driver insists on this user even when qemu.conf says root (LAB.md).
ensure_qemu_user() {
  id libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu
}

# One daemon's private copies of /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt.
write_host_config() {
  local host="$1" dir
  dir="$(host_dir "$host")"
  mkdir -p "$dir/etc" "$dir/run" "$dir/lib" "$dir/log"
  cat > "$dir/etc/libvirtd.conf" <<CONF
host_uuid = "$(host_uuid "$host")"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
  cat > "$dir/etc/qemu.conf" <<CONF
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
remember_owner = 0
CONF
}

libvirtd_pid_file() { echo "$(host_dir "$1")/libvirtd.pid"; }

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Running means managed: tini alive (it reaps QEMU) and libvirtd alive under it.
daemon_running() {
  pid_alive "$(tini_pid_file "$1")" && pid_alive "$(libvirtd_pid_file "$1")"
}

# Starts libvirtd for one host: its own mount namespace with its directories bound over libvirt's,
# in the foreground under `tini -s` so that QEMU children are reaped at once (LAB.md).
start_daemon() {
  local host="$1" dir
  dir="$(host_dir "$host")"
  rm -f "$(host_socket "$host")"
  # Mount points for the bind mounts below (the packages create most, not /run/libvirt).
  mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt
  # 9>&- : the daemon must not inherit the lab lock, or it would hold it for its whole life.
  setsid unshare --mount --propagation private -- /bin/sh -c '
    set -e
    mount --bind "$1/etc" /etc/libvirt
    mount --bind "$1/run" /run/libvirt
    mount --bind "$1/lib" /var/lib/libvirt
    mount --bind "$1/log" /var/log/libvirt
    exec tini -s -- libvirtd --pid-file "$1/libvirtd.pid"
  ' lab-"$host" "$dir" </dev/null >>"$dir/daemon.log" 2>&1 9>&- &
  echo $! > "$(tini_pid_file "$host")"
}

# Waits (bounded) until the daemon answers; the first connection also runs QEMU's capability probe.
wait_until_ready() {
  local host="$1" deadline
  deadline=$(( $(date +%s) + DAEMON_READY_TIMEOUT_SECONDS ))
  until virsh -q -c "$(host_uri "$host")" list --all >/dev/null 2>&1; do
    # tini exits with libvirtd (libvirtd's own pid file may not exist yet this early).
    pid_alive "$(tini_pid_file "$host")" || die "$host: libvirtd exited; see $(host_dir "$host")/log/libvirtd.log"
    [ "$(date +%s)" -lt "$deadline" ] || die "$host: libvirtd not ready after ${DAEMON_READY_TIMEOUT_SECONDS}s"
    sleep 0.2
  done
}

destroy_running_domains() {
  local host="$1" name
  daemon_running "$host" || return 0
  for name in $(virsh -q -c "$(host_uri "$host")" list --name 2>/dev/null); do
    virsh -q -c "$(host_uri "$host")" destroy "$name" >/dev/null 2>&1 || true
  done
}

# Stops one daemon, bounded: SIGCONT (a test may have stopped it) and SIGTERM to libvirtd, whose exit
# ends tini; after the bound SIGKILL to both. Also handles a libvirtd whose tini is gone.
stop_daemon() {
  local host="$1" tini_pid="" libvirtd_pid="" deadline
  pid_alive "$(tini_pid_file "$host")" && tini_pid="$(cat "$(tini_pid_file "$host")")"
  pid_alive "$(libvirtd_pid_file "$host")" && libvirtd_pid="$(cat "$(libvirtd_pid_file "$host")")"
  if [ -n "$libvirtd_pid" ]; then
    kill -CONT "$libvirtd_pid" 2>/dev/null || true
    kill -TERM "$libvirtd_pid" 2>/dev/null || true
  fi
  [ -n "$tini_pid" ] && kill -TERM "$tini_pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + DAEMON_STOP_TIMEOUT_SECONDS ))
  while { [ -n "$tini_pid" ] && kill -0 "$tini_pid" 2>/dev/null; } || { [ -n "$libvirtd_pid" ] && kill -0 "$libvirtd_pid" 2>/dev/null; }; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$host: libvirtd did not stop in ${DAEMON_STOP_TIMEOUT_SECONDS}s; killing it"
      for pid in $libvirtd_pid $tini_pid; do kill -KILL "$pid" 2>/dev/null || true; done
      break
    fi
    sleep 0.1
  done
  rm -f "$(tini_pid_file "$host")" "$(libvirtd_pid_file "$host")"
}

# QEMU processes outlive libvirtd; kill the ones this host's daemon started (its pid files).
kill_leftover_qemu() {
  local host="$1" pid_file
  for pid_file in "$(host_dir "$host")"/run/qemu/*.pid; do
    [ -s "$pid_file" ] || continue
    kill -KILL "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
}

write_env_file() {
  cat > "$VIGIL_LAB_DIR/env.tmp" <<ENV
export VIGIL_LAB_DIR='$VIGIL_LAB_DIR'
export VIGIL_LAB_HOST1_URI='$(host_uri host1)'
export VIGIL_LAB_HOST2_URI='$(host_uri host2)'
export VIGIL_LAB_MIGRATION_URI='$MIGRATION_URI'
export VIGIL_LAB_HOST1_UUID='$HOST1_UUID'
export VIGIL_LAB_HOST2_UUID='$HOST2_UUID'
export VIGIL_LAB_IMAGES='$VIGIL_LAB_DIR/images'
ENV
  mv "$VIGIL_LAB_DIR/env.tmp" "$VIGIL_LAB_DIR/env"
}
