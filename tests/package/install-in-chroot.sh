#!/usr/bin/env bash
# install-in-chroot.sh <deb> <scratch dir>: installs the package for real,
# upgrades it over an admin's edits, removes it and purges it, with dpkg and
# the maintainer scripts, in a copy-on-write copy of this machine's own root:
# an overlay (lower: /, upper: a tmpfs in <scratch dir>) in a mount namespace
# of its own, chrooted into. Nothing reaches the real system: the user the
# postinst adds, dpkg's database and every file live in the tmpfs, which
# goes with the namespace. The node runs there once too, as the unit would
# run it, in a network namespace of its own (loopback only). Needs root (CI
# runs as root); exits 77 when the namespaces or the overlay cannot be made
# (the test then skips).
#
# Each check prints "ok: ..." or "FAILED: ..." (then exits 1).
set -euo pipefail

fail() { echo "FAILED: $*"; exit 1; }
ok() { echo "ok: $*"; }
expect_stat() { # expect_stat <path> <owner:group mode>
  local got
  got=$(stat -c '%U:%G %a' "$1") || fail "$1 is missing"
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
  ok "$1 is $2"
}

# -- inside the chroot ----------------------------------------------------------
if [ "${1:-}" = --inside ]; then
  deb=$2
  export DEBIAN_FRONTEND=noninteractive
  getent passwd meetingd >/dev/null && fail "a user meetingd exists before the install"

  # man-db's trigger rebuilds its index after each dpkg run (3 s); not ours.
  rm -f /var/lib/man-db/auto-update
  wants=/etc/systemd/system/multi-user.target.wants/meetingd.service

  echo "== dpkg -i (first install)"
  dpkg -i "$deb" || fail "dpkg -i"
  [ ! -e "$wants" ] || fail "the first install enabled the service (it has no secrets yet)"
  ok "not enabled by the first install"
  [ "$(dpkg-query -W -f='${db:Status-Status}' meetingd)" = installed ] || fail "not installed"
  entry=$(getent passwd meetingd) || fail "the postinst made no user meetingd"
  IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
  [ "$uid" -lt 1000 ] || fail "meetingd is not a system user (uid $uid)"
  [ "$home" = /var/lib/meetingd ] || fail "home $home"
  [ "$shell" = /usr/sbin/nologin ] || fail "shell $shell"
  getent group meetingd >/dev/null || fail "no group meetingd"
  ok "system user and group meetingd (uid $uid, home $home, shell $shell)"
  expect_stat /etc/meetingd "root:root 755"
  expect_stat /etc/meetingd/meetingd.conf "root:root 644"
  expect_stat /etc/meetingd/meetingd.env "root:meetingd 640"
  cmp -s /etc/meetingd/meetingd.env /usr/share/meetingd/meetingd.env || fail "meetingd.env is not the template"
  expect_stat /var/lib/meetingd "meetingd:meetingd 750"
  expect_stat /var/log/meetingd "meetingd:meetingd 755"
  expect_stat /usr/bin/meetingd "root:root 755"
  conffiles=$(dpkg-query -W -f='${Conffiles}\n' meetingd | awk 'NF {print $1}' | sort | tr '\n' ' ')
  [ "$conffiles" = "/etc/logrotate.d/meetingd /etc/meetingd/meetingd.conf " ] \
    || fail "dpkg's conffiles: $conffiles"
  ok "conffiles registered: $conffiles"

  # The unit as installed, against the real paths (ExecStart, man page).
  out=$(systemd-analyze verify /usr/lib/systemd/system/meetingd.service 2>&1) \
    || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify said: $out"
  ok "systemd-analyze verify meetingd.service (ExecStart and man:meetingd(8) found)"
  runuser -u meetingd -- /usr/bin/meetingd --help >/tmp/help.txt 2>&1 \
    || { cat /tmp/help.txt; fail "meetingd --help as user meetingd"; }
  grep -q -- "config-file" /tmp/help.txt || fail "meetingd --help does not list --config-file"
  ok "meetingd --help runs as user meetingd"
  out=$(logrotate -d -s /tmp/logrotate.state /etc/logrotate.d/meetingd 2>&1) \
    || fail "logrotate -d: $out"
  if grep -q '^error' <<<"$out"; then fail "logrotate -d: $out"; fi
  ok "logrotate -d /etc/logrotate.d/meetingd"

  echo "== the node as the unit runs it (without systemd and its sandbox)"
  # User meetingd, umask 0027, in /var/lib/meetingd, the secrets from the
  # env file, the packaged config, and the log in a file: in a network
  # namespace of its own (loopback only), so no broker or RTC service
  # answers, and none of this machine's is reached.
  printf '%s\n' RTC_ACCESS_KEY_ID=test-key-id RTC_ACCESS_KEY_SECRET=test-key-secret \
    MQTT_USERNAME=GID_MEETING_UP@@@node-1 MQTT_PASSWORD=test-password >>/etc/meetingd/meetingd.env
  log=/var/log/meetingd/meetingd.log
  (
    cd /var/lib/meetingd && umask 0027 && set -a && . /etc/meetingd/meetingd.env && set +a
    exec setpriv --reuid=meetingd --regid=meetingd --init-groups \
      /usr/bin/meetingd --config-file=/etc/meetingd/meetingd.conf --log-file="$log"
  ) >/tmp/node.out 2>&1 &
  node=$!
  for _ in $(seq 100); do grep -q node.recovered "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'node.started .*db=/var/lib/meetingd/meetingd.db' "$log" \
    || { cat /tmp/node.out "$log"; fail "the node did not start on the packaged config"; }
  expect_stat /var/lib/meetingd/meetingd.db "meetingd:meetingd 600"
  ok "the node started as user meetingd with the packaged config and secrets"
  # A rotation by the packaged snippet (its postrotate's systemctl finds no
  # systemd here: the HUP it would send is sent by hand).
  logrotate -f -s /tmp/logrotate.state /etc/logrotate.d/meetingd || fail "logrotate -f"
  [ -f "$log.1" ] || fail "logrotate did not rename $log"
  expect_stat "$log" "meetingd:adm 640"
  kill -HUP "$node"
  for _ in $(seq 50); do grep -q log.reopened "$log" && break; sleep 0.1; done
  kill -0 "$node" 2>/dev/null || fail "SIGHUP stopped the node"
  kill -TERM "$node"
  code=0
  wait "$node" || code=$?
  [ "$code" -eq 0 ] || { cat /tmp/node.out "$log"; fail "the node exited $code on SIGTERM"; }
  grep -q 'node.stopped clean=true' "$log" || { cat "$log"; fail "no node.stopped in the new $log"; }
  ok "logrotate rotated the log, SIGHUP made the node write to the new file, SIGTERM stopped it (exit 0)"

  echo "== the admin's edits, then dpkg -i again (an upgrade)"
  systemctl enable meetingd.service 2>&1 || fail "systemctl enable"
  [ -L "$wants" ] || fail "systemctl enable made no $wants"
  echo "; the admin's line" >>/etc/meetingd/meetingd.conf
  dpkg -i "$deb" || fail "dpkg -i over an installed meetingd"
  grep -qx "RTC_ACCESS_KEY_ID=test-key-id" /etc/meetingd/meetingd.env || fail "the upgrade lost the secrets"
  expect_stat /etc/meetingd/meetingd.env "root:meetingd 640"
  grep -qx "; the admin's line" /etc/meetingd/meetingd.conf || fail "the upgrade lost the config edit"
  [ -f /var/lib/meetingd/meetingd.db ] || fail "the upgrade lost the database"
  [ -L "$wants" ] || fail "the upgrade disabled the service"
  ok "the upgrade kept meetingd.env, the edited meetingd.conf, the database and the service enabled"

  echo "== dpkg -r (remove)"
  dpkg -r meetingd || fail "dpkg -r"
  [ ! -e /usr/bin/meetingd ] || fail "/usr/bin/meetingd is still there"
  [ ! -e /usr/lib/systemd/system/meetingd.service ] || fail "the unit is still there"
  [ -f /etc/meetingd/meetingd.conf ] || fail "remove deleted the conffile"
  [ -f /etc/meetingd/meetingd.env ] || fail "remove deleted the secrets"
  [ -f /var/lib/meetingd/meetingd.db ] || fail "remove deleted the database"
  getent passwd meetingd >/dev/null || fail "remove deleted the user"
  ok "remove took the programs and kept the config, the secrets, the state and the user"

  echo "== dpkg -P (purge)"
  dpkg -P meetingd || fail "dpkg -P"
  for gone in /etc/meetingd /var/lib/meetingd /var/log/meetingd /etc/logrotate.d/meetingd "$wants"; do
    [ ! -e "$gone" ] || fail "purge left $gone"
  done
  status=$(dpkg-query -W -f='${db:Status-Status}' meetingd 2>/dev/null || true)
  [ -z "$status" ] || [ "$status" = not-installed ] || fail "dpkg still lists meetingd: $status"
  getent passwd meetingd >/dev/null || fail "purge deleted the user (it is kept)"
  ok "purge deleted /etc/meetingd, /var/lib/meetingd, /var/log/meetingd and the enablement, and kept the user"
  exit 0
fi

# -- outside: the namespace, the overlay, the chroot ----------------------------
if [ $# -ne 2 ]; then
  sed -n '2,11p' "$0" >&2
  exit 2
fi
deb=$(realpath "$1")
scratch=$(realpath "$2")

if [ "${MEETINGD_IN_NAMESPACE:-}" != 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (dpkg, chroot, mounts)"; exit 77; }
  unshare --mount --net --propagation private true 2>/dev/null \
    || { echo "skipped: unshare --mount --net is not allowed here"; exit 77; }
  MEETINGD_IN_NAMESPACE=1 exec unshare --mount --net --propagation private "$0" "$deb" "$scratch"
fi
ip link set lo up || { echo "skipped: cannot bring up loopback in a network namespace"; exit 77; }

mnt=$scratch/overlay
mkdir -p "$mnt"
mount -t tmpfs -o size=512m tmpfs "$mnt" || { echo "skipped: cannot mount a tmpfs"; exit 77; }
mkdir "$mnt/upper" "$mnt/work" "$mnt/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$mnt/upper,workdir=$mnt/work" "$mnt/root" \
  || { echo "skipped: cannot mount an overlay of /"; exit 77; }
mount -t proc proc "$mnt/root/proc" || mount --rbind /proc "$mnt/root/proc" \
  || { echo "skipped: cannot mount /proc in the chroot"; exit 77; }
mount --rbind /dev "$mnt/root/dev" || { echo "skipped: cannot bind /dev into the chroot"; exit 77; }
mkdir -p "$mnt/root/tmp/meetingd-install"
cp "$deb" "$mnt/root/tmp/meetingd-install/"
cp "$0" "$mnt/root/tmp/meetingd-install/check.sh"
exec chroot "$mnt/root" /bin/bash /tmp/meetingd-install/check.sh --inside \
  "/tmp/meetingd-install/$(basename "$deb")"
