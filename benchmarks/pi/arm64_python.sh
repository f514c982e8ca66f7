#!/usr/bin/env bash
# Run the emulated arm64 root's python3 (made by setup_arm64_root.sh) under
# qemu-user, with the lean runtime wheels and `catdog.*` importable.
#
#   benchmarks/pi/arm64_python.sh SUITE [python args...]     SUITE: bookworm | trixie
#
# Not a chroot: `qemu-aarch64-static -L ROOT` looks each absolute path up in ROOT
# first and falls back to the host's, so /work/..., /tmp, /dev stay visible, while
# /usr (the arm64 python and libs) and /proc/cpuinfo (an ARM one) come from ROOT.
# The guest cannot exec other programs (no binfmt_misc): no subprocess of arm64 code.
#
# Environment: CATDOG_ARM64_CACHE (as for setup), CATDOG_QEMU_CPU (qemu -cpu,
# default cortex-a72 as on a Raspberry Pi 4; "max" enables newer extensions),
# CATDOG_ARM64_PYTHON (run this arm64 python instead of the root's, e.g. a venv's made
# with --copies; then no PYTHONPATH is set, so the venv's own packages are imported).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CATDOG_ARM64_CACHE:-$HOME/.cache/catdog/arm64}"

if [ $# -lt 1 ]; then
    echo "usage: $0 bookworm|trixie [python args...]" >&2
    exit 2
fi
SUITE="$1"; shift
case "$SUITE" in
    bookworm|trixie) ;;
    *) echo "$0: unknown suite '$SUITE' (bookworm or trixie)" >&2; exit 2 ;;
esac
ROOT="$CACHE/$SUITE/root"
if [ ! -f "$CACHE/$SUITE/.ready" ] || [ ! -x "$ROOT/usr/bin/python3" ]; then
    echo "$0: no arm64 root for $SUITE in $CACHE; run $HERE/setup_arm64_root.sh $SUITE first" >&2
    exit 3
fi
QEMU="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
[ -n "$QEMU" ] || { echo "$0: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2; exit 3; }

# Python path: the wheels, then the project's own package if it ever gets a real
# catdog/ dir, else the shim that maps catdog.<name> to $PROJECT_ROOT/<name>.
PYPATH="$ROOT/opt/catdog-site"
if [ -f "$PROJECT_ROOT/catdog/__init__.py" ]; then
    PYPATH="$PROJECT_ROOT:$PYPATH"
elif [ -f "$PROJECT_ROOT/src/catdog/__init__.py" ]; then
    PYPATH="$PROJECT_ROOT/src:$PYPATH"
else
    PYPATH="$ROOT/opt/catdog-src:$PYPATH"
fi
[ -z "${CATDOG_ARM64_PYTHON:-}" ] || PYPATH=""

# A clean guest environment: nothing of the host's venv or PYTHON* settings.
# Bytecode goes to a cache dir outside ROOT: otherwise the guest would write .pyc
# files next to sources that exist only on the host (the project tree and, through
# the -L fallback, even the host's /usr/lib/python3.*/__pycache__).
mkdir -p "$CACHE/$SUITE/pycache"
exec env -i \
    HOME="${HOME:-/root}" \
    PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 \
    TERM="${TERM:-dumb}" \
    TMPDIR="${TMPDIR:-/tmp}" \
    ${OMP_NUM_THREADS:+OMP_NUM_THREADS="$OMP_NUM_THREADS"} \
    CATDOG_PROJECT_ROOT="$PROJECT_ROOT" \
    CATDOG_ARM64_SUITE="$SUITE" \
    ${PYPATH:+PYTHONPATH="$PYPATH"} \
    PYTHONPYCACHEPREFIX="$CACHE/$SUITE/pycache" \
    PYTHONNOUSERSITE=1 \
    QEMU_LD_PREFIX="$ROOT" \
    QEMU_CPU="${CATDOG_QEMU_CPU:-cortex-a72}" \
    "$QEMU" "${CATDOG_ARM64_PYTHON:-$ROOT/usr/bin/python3}" "$@"
