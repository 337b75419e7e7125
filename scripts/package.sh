#!/usr/bin/env bash
# Builds every vigil package from this checkout: vigil-controlplane (vigild +
# vigilctl) and vigil-agent, each as .deb and .rpm. Each bundles the Node.js 20
# runtime (npm package node-linux-<arch>, integrity pinned below) and the
# production node_modules, whose native modules (better-sqlite3, koffi) are
# built against that runtime's headers. Nothing is downloaded at install time.
#
#   scripts/package.sh [--arch x64|arm64]
#
# Output:  packaging/out/ (or $VIGIL_PACKAGE_OUT): the four packages and SIZES.txt.
# Caches:  packaging/.build/ (or $VIGIL_PACKAGE_WORK): the runtime tarball and the
#          production node_modules, keyed by package-lock.json, runtime and arch.
# Payload: xz; VIGIL_PACKAGE_COMPRESSION=fast for quicker builds of larger packages.
# Needs:   npm, and Debian's build-essential python3 (node-gyp), binutils (strip),
#          dpkg-dev, rpm. arm64 packages are built on an arm64 machine: the
#          native modules compile for the machine they are built on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

node_version=20.20.2
declare -A node_integrity=(
  [x64]=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
  [arm64]=sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==
)

case "$(uname -m)" in
  x86_64) host_arch=x64 ;;
  aarch64) host_arch=arm64 ;;
  *) host_arch=unsupported ;;
esac
arch=$host_arch
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:-}"; shift 2 ;;
    -h|--help) sed -n "2,16p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x64) deb_arch=amd64; rpm_arch=x86_64 ;;
  arm64) deb_arch=arm64; rpm_arch=aarch64 ;;
  *) echo "package.sh: --arch must be x64 or arm64" >&2; exit 2 ;;
esac
if [ "$arch" != "$host_arch" ]; then
  echo "package.sh: build $arch packages on a $arch machine (native modules compile for the build machine)" >&2
  exit 2
fi

# small (the default): xz -6 for both formats, about 23 MB per package, some
# minutes on 2 cores. fast: gzip (.deb) and zstd -3 (.rpm), about 33 MB, in
# seconds; what the packaging tests build. (Debian 12's lintian refuses zstd .debs.)
case "${VIGIL_PACKAGE_COMPRESSION:-small}" in
  small) deb_compression=(-Zxz -z6 --threads-max=2); rpm_payload=w6T.xzdio ;;
  fast) deb_compression=(-Zgzip -z6); rpm_payload=w3T.zstdio ;;
  *) echo "package.sh: VIGIL_PACKAGE_COMPRESSION must be small or fast" >&2; exit 2 ;;
esac

out="${VIGIL_PACKAGE_OUT:-$root/packaging/out}"
work="${VIGIL_PACKAGE_WORK:-$root/packaging/.build}"
version="$(node -p 'require("./package.json").version')"
release=1
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Changelog dates come from the commit, so that rebuilding a commit gives the same metadata.
build_epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

step() { echo "package.sh: [$((SECONDS - started)) s] $*"; }

missing=()
for tool in npm dpkg-deb dpkg-shlibdeps rpmbuild strip make g++ python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "package.sh: missing ${missing[*]}; on Debian: apt-get install build-essential python3 binutils dpkg-dev rpm" >&2
  exit 1
fi
mkdir -p "$out" "$work/cache"

# ---- 1. Build vigil (dist/) with the checkout's dev dependencies. ----
if [ ! -d node_modules ]; then
  step "npm ci (dev dependencies for the build)"
  npm ci --no-audit --no-fund --loglevel=error
fi
step "npm run build"
npm run --silent build > /dev/null

# ---- 2. The Node.js runtime, verified against the pinned integrity. ----
runtime_tarball="$work/cache/node-linux-$arch-$node_version.tgz"
if [ ! -f "$runtime_tarball" ]; then
  step "fetching node-linux-$arch@$node_version"
  (cd "$work/cache" && npm pack --silent "node-linux-$arch@$node_version" > /dev/null)
fi
actual_integrity="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$runtime_tarball")"
if [ "$actual_integrity" != "${node_integrity[$arch]}" ]; then
  echo "package.sh: $runtime_tarball does not match the pinned integrity; delete it and retry" >&2
  exit 1
fi
runtime="$work/runtime-$arch-$node_version"
if [ ! -x "$runtime/bin/node" ]; then
  rm -rf "$runtime.tmp" && mkdir -p "$runtime.tmp"
  tar -xzf "$runtime_tarball" -C "$runtime.tmp" --strip-components=1
  mv "$runtime.tmp" "$runtime"
fi

# ---- 3. Production node_modules, native modules built against that runtime. ----
modules_key="$(cat package-lock.json <(echo "$node_version $arch") | sha256sum | cut -c1-16)"
modules="$work/modules-$modules_key"
if [ ! -d "$modules/node_modules" ]; then
  step "npm ci --omit=dev against node $node_version headers (better-sqlite3 compiles: about 2-3 minutes)"
  rm -rf "$modules.tmp" && mkdir -p "$modules.tmp"
  cp package.json package-lock.json "$modules.tmp/"
  # The runtime's node first on PATH runs the install scripts; nodedir gives node-gyp its headers (no download).
  (cd "$modules.tmp" && PATH="$runtime/bin:$PATH" npm_config_nodedir="$runtime" npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  packaging/prune-modules.sh "$modules.tmp/node_modules" "$arch"
  mv "$modules.tmp" "$modules"
fi

# ---- 4. Stage each package's file tree (shared by the .deb and the .rpm). ----
# stage PACKAGE COMPONENT: the tree under $work/stage/PACKAGE.
stage() {
  local package=$1 component=$2
  local tree="$work/stage/$package" lib="$work/stage/$package/usr/lib/vigil/$component"
  rm -rf "$tree"
  mkdir -p "$lib/node/bin" "$lib/dist" "$tree/usr/bin" "$tree/etc/vigil" "$tree/usr/lib/systemd/system" \
    "$tree/usr/share/man/man8" "$tree/var/lib/vigil"
  install -m 0755 "$runtime/bin/node" "$lib/node/bin/node"
  strip --strip-unneeded "$lib/node/bin/node"
  install -m 0644 "$runtime/LICENSE" "$lib/node/LICENSE"
  # "type": "module" makes dist/*.js ES modules, as in the source tree.
  printf '{\n  "name": "vigil",\n  "version": "%s",\n  "private": true,\n  "type": "module"\n}\n' "$version" > "$lib/package.json"
  cp -r dist/common dist/proto "dist/$component" "$lib/dist/"
  find "$lib/dist" -name '*.map' -delete
  # proto-loader reads the .proto files at run time (dist/common/../../proto).
  cp -r proto "$lib/proto"
  cp -a "$modules/node_modules" "$lib/node_modules"
  install -m 0644 packaging/systemd/*.service -t "$tree/usr/lib/systemd/system/"
  chmod -R u=rwX,go=rX "$tree"
}

# wrapper COMMAND COMPONENT SCRIPT: /usr/bin/COMMAND runs SCRIPT on the bundled runtime.
wrapper() {
  local tree=$1 command=$2 component=$3 script=$4
  cat > "$tree/usr/bin/$command" <<EOF
#!/bin/sh
# $command, on the Node.js runtime bundled in /usr/lib/vigil/$component (Debian 12's nodejs is too old).
exec /usr/lib/vigil/$component/node/bin/node /usr/lib/vigil/$component/dist/$script "\$@"
EOF
  chmod 0755 "$tree/usr/bin/$command"
}

man_page() {
  sed "s/@VERSION@/$version/" "$1" | gzip -9n > "$2"
  chmod 0644 "$2"
}

step "staging trees"
cp_tree="$work/stage/vigil-controlplane"
stage vigil-controlplane controlplane
rm "$cp_tree/usr/lib/systemd/system/vigil-agent.service"
wrapper "$cp_tree" vigild controlplane controlplane/main.js
wrapper "$cp_tree" vigilctl controlplane controlplane/cli/vigilctl.js
install -m 0644 packaging/config/vigild.yaml "$cp_tree/etc/vigil/vigild.yaml"
install -D -m 0644 packaging/sysusers/vigil.conf "$cp_tree/usr/lib/sysusers.d/vigil.conf"
man_page packaging/man/vigild.8.in "$cp_tree/usr/share/man/man8/vigild.8.gz"
mkdir -p "$cp_tree/usr/share/man/man1" "$cp_tree/usr/share/bash-completion/completions"
node packaging/man/render-vigilctl.mjs dist/controlplane/cli/vigilctl.js "$version" | gzip -9n > "$cp_tree/usr/share/man/man1/vigilctl.1.gz"
node dist/controlplane/cli/vigilctl.js completion bash > "$cp_tree/usr/share/bash-completion/completions/vigilctl"
chmod 0644 "$cp_tree/usr/share/man/man1/vigilctl.1.gz" "$cp_tree/usr/share/bash-completion/completions/vigilctl"
install -d -m 0750 "$cp_tree/var/lib/vigil/vigild"

agent_tree="$work/stage/vigil-agent"
stage vigil-agent agent
rm "$agent_tree/usr/lib/systemd/system/vigild.service"
wrapper "$agent_tree" vigil-agent agent agent/main.js
install -m 0644 packaging/config/agent.yaml "$agent_tree/etc/vigil/agent.yaml"
man_page packaging/man/vigil-agent.8.in "$agent_tree/usr/share/man/man8/vigil-agent.8.gz"
install -d -m 0700 "$agent_tree/var/lib/vigil/agent"

# ---- 5. .deb ----
declare -A summary=(
  [vigil-controlplane]="Control-plane replica (vigild) and operator CLI (vigilctl) of vigil"
  [vigil-agent]="Agent for each KVM host of a vigil cluster"
)
declare -A description=(
  [vigil-controlplane]=" vigil keeps virtual machines on a KVM cluster running when hosts die, and
 never runs one VM on two hosts at once. vigild keeps the cluster's state
 (hosts, VMs, jobs, events) in a replicated SQLite log; its primary runs host
 liveness, fencing, HA restarts and migrations. vigilctl is the operator's
 command line.
 .
 vigild runs as the system user vigil and starts on installation, listening
 on 127.0.0.1 only. It bundles its own Node.js 20 runtime."
  [vigil-agent]=" vigil keeps virtual machines on a KVM cluster running when hosts die, and
 never runs one VM on two hosts at once. vigil-agent runs on every KVM host:
 it journals libvirt events in a local SQLite outbox, streams them to the
 control plane and executes its term-fenced commands.
 .
 The agent runs as root to reach libvirt's system socket. Set hostId in
 /etc/vigil/agent.yaml, then: systemctl enable --now vigil-agent. It bundles
 its own Node.js 20 runtime."
)
declare -A extra_depends=(
  [vigil-controlplane]="systemd | systemd-standalone-sysusers | systemd-sysusers"
  [vigil-agent]="libvirt0"
)

# Shared-library dependencies of the bundled ELF files, as Debian computes them.
shlib_depends() {
  local tree=$1 shlibs="$work/shlibdeps"
  mkdir -p "$shlibs/debian"
  printf 'Source: vigil\n\nPackage: vigil\nArchitecture: any\n' > "$shlibs/debian/control"
  local files=()
  mapfile -t files < <(find "$tree" -type f \( -name node -o -name '*.node' \) | sort)
  # Addons use symbols of the node binary that loads them: not a library dependency.
  (cd "$shlibs" && dpkg-shlibdeps -O --warnings=0 "${files[@]/#/-e}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

build_deb() {
  local package=$1 tree="$work/deb/$1"
  rm -rf "$tree" && mkdir -p "$work/deb"
  cp -al "$work/stage/$package" "$tree"
  mkdir -p "$tree/lib/systemd"
  # Debian 12 installs units under /lib (the /usr-merge moratorium); RPM distributions under /usr/lib.
  mv "$tree/usr/lib/systemd/system" "$tree/lib/systemd/system"
  rmdir "$tree/usr/lib/systemd"
  # State directories are made by postinst and purged by postrm, not shipped.
  rm -rf "$tree/var"
  local doc="$tree/usr/share/doc/$package"
  mkdir -p "$doc" "$tree/usr/share/lintian/overrides"
  install -m 0644 packaging/deb/copyright "$doc/copyright"
  sed -e "s/@SOURCE@/$package/" -e "s/@VERSION@/$version-$release/" -e "s/@UPSTREAM@/$version/" -e "s/@COMMIT@/$commit/" \
    -e "s/@DATE@/$(date -R -u -d "@$build_epoch")/" \
    packaging/deb/changelog.in | gzip -9n > "$doc/changelog.Debian.gz"
  chmod 0644 "$doc/changelog.Debian.gz"
  install -m 0644 "packaging/deb/$package.lintian-overrides" "$tree/usr/share/lintian/overrides/$package"

  mkdir -p "$tree/DEBIAN"
  install -m 0755 "packaging/deb/$package/postinst" "packaging/deb/$package/prerm" "packaging/deb/$package/postrm" "$tree/DEBIAN/"
  (cd "$tree" && find etc -type f -printf '/%p\n' | sort > DEBIAN/conffiles)
  (cd "$tree" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
  local depends
  depends="$(shlib_depends "$tree"), libsystemd0, ${extra_depends[$package]}"
  local installed_size
  installed_size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
  SUMMARY="${summary[$package]}" DESCRIPTION="${description[$package]}" awk \
    -v package="$package" -v version="$version-$release" -v arch="$deb_arch" -v size="$installed_size" -v depends="$depends" '
    { gsub("@PACKAGE@", package); gsub("@VERSION@", version); gsub("@ARCH@", arch); gsub("@INSTALLED_SIZE@", size); gsub("@DEPENDS@", depends)
      if ($0 == "@DESCRIPTION@") { print ENVIRON["DESCRIPTION"]; next }
      sub("@SUMMARY@", ENVIRON["SUMMARY"]); print }' packaging/deb/control.in > "$tree/DEBIAN/control"
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles" "$tree/DEBIAN/md5sums"
  dpkg-deb --root-owner-group "${deb_compression[@]}" --build "$tree" "$out/${package}_$version-${release}_$deb_arch.deb" > /dev/null
}

step "building .deb packages"
rm -f "$out"/*.deb "$out"/*.rpm
build_deb vigil-controlplane
build_deb vigil-agent

# ---- 6. .rpm ----
step "building .rpm packages"
for package in vigil-controlplane vigil-agent; do
  tree="$work/rpm/$package"
  rm -rf "$tree" && mkdir -p "$work/rpm"
  cp -al "$work/stage/$package" "$tree"
  install -D -m 0644 packaging/deb/copyright "$tree/usr/share/licenses/$package/copyright"
done
rm -rf "$work/rpmbuild"
rpmbuild -bb --quiet --target "$rpm_arch" \
  --define "_topdir $work/rpmbuild" \
  --define "_rpmdir $out" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "_binary_payload $rpm_payload" \
  --define "vigil_version $version" \
  --define "vigil_release $release" \
  --define "vigil_commit $commit" \
  --define "vigil_date $(date -u -d "@$build_epoch" '+%a %b %d %Y')" \
  --define "controlplane_root $work/rpm/vigil-controlplane" \
  --define "agent_root $work/rpm/vigil-agent" \
  packaging/rpm/vigil.spec > "$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; exit 1; }

# ---- 7. Sizes ----
(cd "$out" && for file in *.deb *.rpm; do
  printf '%-48s %6.1f MB  (installed %s MB)\n' "$file" "$(stat -c %s "$file" | awk '{ print $1 / 1048576 }')" \
    "$(du -sm --exclude=DEBIAN "$work/deb/$(echo "$file" | sed -E 's/[_-][0-9].*//')" | cut -f1)"
done) | tee "$out/SIZES.txt"
step "done: packages in $out"
