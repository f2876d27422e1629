#!/usr/bin/env bash
# Whole-process comparison of ferry with cp, rsync, rclone and dd on the
# simulated storage of ../shared/testbed. Brings the bed up (as root), installs
# missing peers with apt-get, then runs bench/compare.ts with the arguments
# given (e.g. --quick, --runs 7, --cases big-net-local,seq-net-local).
set -euo pipefail
cd "$(dirname "$0")/.."
bed=../shared/testbed/testbed.sh
[ "$(id -u)" = 0 ] || { echo "bench: run as root (the testbed mounts file systems)" >&2; exit 1; }

missing=()
command -v rsync >/dev/null || missing+=(rsync)
command -v rclone >/dev/null || missing+=(rclone)
[ -x /usr/bin/time ] || missing+=(time)
command -v xfs_io >/dev/null || missing+=(xfsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# The full datasets (a 2 GiB file, 300 x 12 MiB frames) need room for a source
# and a copy on one tmpfs: bring the bed up with 9 GiB volumes unless it is
# already up that large.
need_kib=$((9 * 1024 * 1024))
if bash "$bed" env >/dev/null 2>&1; then
  store=$(bash "$bed" env | sed -n 's/^TESTBED_NET_STORE=//p')
  have_kib=$(df -k --output=size "$store" | tail -n 1)
  if [ "$have_kib" -lt "$need_kib" ] && [[ " $* " != *" --quick "* ]]; then
    echo "bench: the testbed's volumes are too small for the full datasets; restarting it" >&2
    bash "$bed" down >&2
  fi
fi
NET_SIZE=9g LOCAL_SIZE=9g REFLINK_SIZE=5g bash "$bed" up >/dev/null

# Time a snapshot of the working tree, so that edits during a long run do not
# change the program half-way.
snapshot=$(mktemp -d /tmp/ferry-bench-XXXXXX)
trap 'rm -rf "$snapshot"' EXIT
cp -r cli.ts mod.ts deno.json deno.lock cli lib "$snapshot/"
echo "bench: timing the snapshot in $snapshot (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', with uncommitted changes'))" >&2
FERRY_COMMIT="git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes')" \
  FERRY_ROOT=$snapshot "${DENO:-deno}" run --allow-all bench/compare.ts "$@"
