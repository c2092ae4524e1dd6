#!/usr/bin/env bash
# Builds test/consumer as a downstream project would: fiberpool comes in through a wrap-git and
# dependency('fiberpool'); then the program and the project's doctest suite run.
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
cp "$here/meson.build" "$here/consumer.cpp" "$here/consumer_test.cpp" "$scratch/"

# file:// rather than a bare path: git ignores depth for plain local-path clones (and warns).
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
meson setup build --force-fallback-for=fiberpool 2>&1 | tee setup.log
if grep -qi 'warning' setup.log; then
  echo "FAIL: meson setup of the consumer warned (see above)" >&2
  exit 1
fi
meson compile -C build
./build/consumer

# The debug consumer (-O0) gets an optimized library: dependency('fiberpool', default_options:
# ['lib_optimization=2']) in its meson.build.
python3 - build/compile_commands.json <<'PY'
import json, shlex, sys
flags = {}
for c in json.load(open(sys.argv[1])):
    args = shlex.split(c['command'])
    opt = [a for a in args if a.startswith('-O')]
    flags[c['file']] = opt[-1] if opt else '(none)'
lib = {f: o for f, o in flags.items() if '/subprojects/fiberpool/lib/' in f}
own = {f: o for f, o in flags.items() if '/subprojects/' not in f}
print('consumer: -O of its own files:', sorted(set(own.values())), '; of fiberpool\'s', len(lib), 'library files:',
      sorted(set(lib.values())))
if not lib or set(lib.values()) != {'-O2'} or set(own.values()) != {'-O0'}:
    sys.exit('FAIL: expected -O0 for the consumer and -O2 for the fiberpool library')
PY

# The consumer's unit tests, and what doctest says about a kill that escapes a test case
# (<fiberpool/doctest.hpp>): the kill by name, never "unknown exception".
meson test -C build --print-errorlogs
log=build/meson-logs/testlog.txt
if ! grep -q 'test case THREW exception: job_terminated(signal 15): fiberpool: job terminated' "$log"; then
  echo "FAIL: doctest did not report the escaping kill as job_terminated(signal 15) ($log)" >&2
  exit 1
fi
if grep -q 'unknown exception' "$log"; then
  echo "FAIL: doctest reported an unknown exception ($log)" >&2
  exit 1
fi
echo "consumer: doctest reports an escaping kill as job_terminated(signal 15)"
