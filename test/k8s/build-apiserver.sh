#!/usr/bin/env bash
# Builds a real kube-apiserver for the operator's tests, once per machine.
#
# Debian bookworm ships Kubernetes only as a source package (1.20.x, vendored). This script
# builds `cmd/kube-apiserver` from it with golang-1.19 in GOPATH mode (the way Kubernetes
# 1.20's own `make` does it) and caches the binary as $DIAGON_K8S_CACHE/bin/kube-apiserver
# (default /var/cache/diagon-k8s). etcd comes from the `etcd-server` package (/usr/bin/etcd).
#
# Idempotent: exits at once when the cached binary already runs. Needs root for apt-get
# (only when a package or the bookworm deb-src entry is missing). ~10 minutes on 2 cores;
# the build tree (~1.8 GB) is deleted afterwards unless DIAGON_K8S_KEEP_BUILD=1.
#
#   bash test/k8s/build-apiserver.sh            # build or reuse
#   DIAGON_K8S_CACHE=/somewhere bash test/k8s/build-apiserver.sh
set -euo pipefail

CACHE="${DIAGON_K8S_CACHE:-/var/cache/diagon-k8s}"
BIN="$CACHE/bin/kube-apiserver"
BUILD="$CACHE/build"
GO_ROOT=/usr/lib/go-1.19
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
PACKAGES=(dpkg-dev build-essential golang-1.19-go rsync etcd-server
  golang-github-modern-go-reflect2-dev)
MIN_FREE_GB=4 # the build tree peaks at ~1.8 GB

log() { printf '[build-apiserver %s] %s\n' "$(date +%T)" "$*"; }
die() {
  log "ERROR: $*" >&2
  exit 1
}

if [[ -x "$BIN" ]] && version="$("$BIN" --version 2>/dev/null)"; then
  log "cached: $BIN ($version)"
  exit 0
fi

started=$SECONDS
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root for: $*"
  fi
}

# --- packages -------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

has_deb_src() {
  # One-line style (sources.list, *.list) or deb822 style (*.sources) for bookworm.
  grep -Eqs '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm[[:space:]]' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822 stanzas are separated by blank lines; look for one with deb-src + bookworm.
    awk 'BEGIN{RS=""} /Types:[^\n]*deb-src/ && /Suites:[^\n]*bookworm([ \n]|$)/ {found=1}
         END{exit !found}' "$f" && return 0
  done
  return 1
}

need_update=0
if ! has_deb_src; then
  log "adding a deb-src entry for bookworm main"
  as_root tee /etc/apt/sources.list.d/diagon-bookworm-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  need_update=1
fi
if ((${#missing[@]} > 0)); then
  need_update=1
fi
if ((need_update)); then
  log "apt-get update"
  as_root apt-get update -q
fi
if ((${#missing[@]} > 0)); then
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
fi
[[ -x "$GO_ROOT/bin/go" ]] || die "$GO_ROOT/bin/go missing"
[[ -d "$REFLECT2_SRC" ]] || die "$REFLECT2_SRC missing"
[[ -x /usr/bin/etcd ]] || die "/usr/bin/etcd missing (etcd-server)"

# --- disk -----------------------------------------------------------------------------
mkdir -p "$CACHE/bin"
free_kb=$(df -Pk "$CACHE" | awk 'NR==2 {print $4}')
log "free space at $CACHE: $((free_kb / 1024 / 1024)) GB (need ${MIN_FREE_GB} GB for the build)"
((free_kb >= MIN_FREE_GB * 1024 * 1024)) || die "not enough disk space"

# --- source ---------------------------------------------------------------------------
rm -rf "$BUILD"
mkdir -p "$BUILD"
cd "$BUILD"
log "apt-get source kubernetes into $BUILD"
# (As root apt warns that _apt cannot write here; harmless.)
if ! apt-get source -q kubernetes >"$BUILD/apt-source.log" 2>&1; then
  cat "$BUILD/apt-source.log" >&2
  die "apt-get source kubernetes failed"
fi
tail -n 2 "$BUILD/apt-source.log"
src=$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[[ -n "$src" && -f "$src/build/root/Makefile" ]] || die "no kubernetes source tree in $BUILD"
log "source: $src"
cd "$src"

# reflect2 1.0.1 (vendored) breaks under Go >= 1.18 (crashes on the first custom-resource
# write); Debian's 1.0.2 has no dependencies, so it drops straight into vendor/.
log "replacing vendored github.com/modern-go/reflect2 with Debian's $(
  dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev
)"
rsync -a --delete --exclude=go.mod --exclude=go.sum --exclude='*_test.go' \
  "$REFLECT2_SRC/" vendor/github.com/modern-go/reflect2/

# Kubernetes 1.20's make sets GO111MODULE=off and builds in its own GOPATH
# (_output/local/go) with the vendor/ tree; it only needs the right `go` first in PATH.
export PATH="$GO_ROOT/bin:$PATH"
unset GOFLAGS GOPATH GOBIN GO111MODULE
export CGO_ENABLED=0
log "$(go version)"

log "make generated_files"
make generated_files
log "make WHAT=cmd/kube-apiserver"
make WHAT=cmd/kube-apiserver

out="$src/_output/bin/kube-apiserver"
[[ -x "$out" ]] || die "build produced no $out"
install -m 0755 "$out" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
version="$("$BIN" --version)"
log "installed $BIN ($version)"

cd "$CACHE"
if [[ "${DIAGON_K8S_KEEP_BUILD:-0}" == 1 ]]; then
  log "keeping build tree $BUILD ($(du -sh "$BUILD" | cut -f1))"
else
  log "deleting build tree $BUILD ($(du -sh "$BUILD" | cut -f1))"
  rm -rf "$BUILD"
fi
log "done in $((SECONDS - started)) s; cache uses $(du -sh "$CACHE" | cut -f1)"
