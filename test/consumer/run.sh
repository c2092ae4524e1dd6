#!/usr/bin/env bash
# Builds test/consumer as a downstream project would: fiberpool comes in through a wrap-git and
# dependency('fiberpool'), then the program runs.
#   usage: run.sh <fiberpool source root> <scratch dir>      (the scratch dir is wiped first)
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 <fiberpool source root> <scratch dir>" >&2; exit 2; }
root=$(cd "$1" && pwd)
scratch=$2
here=$(cd "$(dirname "$0")" && pwd)

# A wrap-git needs a git repository with a commit; a source tree without one cannot be tested
# this way, so skip (77 is Meson's "skipped") rather than fail.
if ! git -C "$root" rev-parse --verify --quiet HEAD >/dev/null 2>&1; then
  echo "SKIP: $root is not a git checkout with a commit; the wrap-git has nothing to clone." >&2
  exit 77
fi
# The wrap-git clones the committed HEAD, so uncommitted library changes are not what is tested.
if [[ -n $(git -C "$root" status --porcelain -- include lib 'meson*') ]]; then
  echo "NOTE: $root has uncommitted changes under include/, lib/ or meson*." >&2
  echo "NOTE: this test builds the committed HEAD ($(git -C "$root" rev-parse --short HEAD)) without them." >&2
fi

# Start from nothing, so no clone or build from an earlier run (an older HEAD) is reused.
case $(realpath -m "$scratch") in
  / | "$root" | "$here") echo "run.sh: refusing to wipe scratch dir '$scratch'" >&2; exit 2 ;;
esac
rm -rf "$scratch"
mkdir -p "$scratch/subprojects"
cp "$here/meson.build" "$here/consumer.cpp" "$scratch/"

# file:// rather than a bare path: git ignores depth for plain local-path clones.
cat > "$scratch/subprojects/fiberpool.wrap" <<WRAP
[wrap-git]
url = file://$root
revision = HEAD
depth = 1

[provide]
dependency_names = fiberpool
WRAP

cd "$scratch"
# --force-fallback-for: use the wrap even if a fiberpool is installed system-wide (pkg-config).
meson setup build --force-fallback-for=fiberpool
meson compile -C build
./build/consumer
