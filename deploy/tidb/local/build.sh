#!/usr/bin/env bash
# Build tidb-server from the pinned TiDB commit into a cache outside the repository.
# Rebuilds only when the pin (go.sum digest of this module) changes.
# Prints the binary path on stdout; progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
# The pin is read from go.mod (no go toolchain needed to find a cached binary).
pin="$(sed -nE 's#^(require )?[[:space:]]*github.com/pingcap/tidb (v[^ ]+).*#\2#p' go.mod | head -1)"
commit="${pin##*-}"
version="v8.5.0-alpha-20241125-${commit}"
cache="${MEDHTAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medhtap}/tidb-${version}"
bin="$cache/tidb-server"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "go is not installed: cannot build tidb-server" >&2; exit 3; }
mkdir -p "$cache"
# Two callers at once (a demo and a test run) must not build into the same file: the second
# waits for the first and then finds its binary.
exec 9>"$cache/.build.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
echo "building tidb-server $version (cold: ~10 min on 2 cores; cached afterwards in $cache)" >&2
go mod download >&2
start=$(date +%s)
# Same ldflags as TiDB's Makefile sets for the release string; -checklinkname=0 is needed by Go >= 1.23.
go build -trimpath -buildvcs=false \
  -ldflags "-X \"github.com/pingcap/tidb/pkg/parser/mysql.TiDBReleaseVersion=${version}\" -X \"github.com/pingcap/tidb/pkg/util/versioninfo.TiDBGitHash=${commit}\" -X \"github.com/pingcap/tidb/pkg/util/versioninfo.TiDBEdition=Community\" -checklinkname=0" \
  -o "$bin.tmp" github.com/pingcap/tidb/cmd/tidb-server >&2 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 15
  kill -0 "$pid" 2>/dev/null && echo "  ... still building tidb-server ($(( $(date +%s) - start ))s)" >&2
done
wait "$pid"
mv "$bin.tmp" "$bin"
echo "built $bin in $(( $(date +%s) - start ))s ($(du -h "$bin" | cut -f1))" >&2
echo "$bin"
