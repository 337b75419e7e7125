#!/usr/bin/env bash
# Installs what vigil needs on a fresh Debian 12 machine, idempotently.
#   scripts/install-deps.sh demo   libvirt's client library and npm packages
#   scripts/install-deps.sh test   also libvirtd + QEMU for the real-libvirt lab, python3-libvirt and etcd for peers
#   scripts/install-deps.sh packaging   the tools that build and test the .deb and .rpm packages (Debian only, no npm)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-demo}"

packages=(libvirt0)
if [ "$profile" = test ]; then
  packages+=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils tini python3-libvirt etcd-server etcd-client iproute2 procps)
fi

if [ "$profile" = packaging ]; then
  packages=(build-essential python3 binutils dpkg-dev rpm lintian rpmlint mmdebstrap systemd-container man-db libvirt0 curl)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

[ "$profile" = packaging ] && exit 0

# npm ci only when node_modules was not installed from this exact lock file.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.vigil-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  echo "install-deps: npm ci (better-sqlite3 compiles from source: about 2 minutes)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.vigil-lock-hash
fi
