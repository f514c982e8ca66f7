#!/usr/bin/env bash
# Check, in an emulated arm64 Debian root set up like Raspberry Pi OS, which `pip install` of the lean
# runtime leaves the distro's numpy alone (picamera2's simplejpeg needs it), and that catdog then gives
# the same labels as on x86. See benchmarks/pi/README.md, "Raspberry Pi OS installs".
#
#   benchmarks/pi/check_pi_install.sh SUITE NAME [--model FILE]... [--image FILE]... -- PIP_ARGS...
#
# SUITE bookworm | trixie; NAME names the venv (<cache>/<suite>/venvs/NAME, made anew each time).
# The root has Debian's python3, python3-numpy, python3-pip, python3-venv, and a stand-in for
# Raspberry Pi OS's python3-simplejpeg (not in Debian): PyPI's simplejpeg wheel of the same numpy ABI
# (bookworm 1.6.6, built against numpy 1.x; trixie 1.9.0, against numpy 2) in the system dist-packages.
# Then, all as arm64 code under qemu: `python3 -m venv --system-site-packages`, the venv's
# `python -m pip install PIP_ARGS` (pip's own resolution, from PyPI), catdog itself with --no-deps
# (a wheel of this tree), a report of what each import gives, and with --model/--image
# `catdog-predict --json` in the venv and on the host (.venv) with labels compared.
#
# Exit status: 0; 1 if numpy is no longer the distro's, an import fails, or a label differs.
# Environment: CATDOG_PI_CACHE (default ~/.cache/catdog/arm64-pi-os), as CATDOG_ARM64_CACHE for
# setup_arm64_root.sh and arm64_python.sh; CATDOG_PI_DEBS, more Debian packages for the root (comma-separated,
# e.g. the desktop's libgl1,...; a changed list rebuilds the root, so give it its own CATDOG_PI_CACHE);
# CATDOG_QEMU_CPU as for arm64_python.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "$HERE/../.." && pwd)"
export CATDOG_ARM64_CACHE="${CATDOG_PI_CACHE:-$HOME/.cache/catdog/arm64-pi-os}"
export CATDOG_ARM64_PKGS="" CATDOG_ARM64_INCLUDE="python3-numpy,python3-pip,python3-venv${CATDOG_PI_DEBS:+,$CATDOG_PI_DEBS}"
HOST_PY="$PROJECT_ROOT/.venv/bin/python"

log() { printf '[check_pi_install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

[ $# -ge 2 ] || die "usage: $0 bookworm|trixie NAME [--model FILE]... [--image FILE]... -- PIP_ARGS..."
SUITE="$1" NAME="$2"; shift 2
case "$SUITE" in
    bookworm) PY=3.11 SIMPLEJPEG="simplejpeg==1.6.6" ;;
    trixie) PY=3.13 SIMPLEJPEG="simplejpeg==1.9.0" ;;
    *) die "unknown suite '$SUITE' (bookworm or trixie)" ;;
esac
MODELS=() IMAGES=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
        --model) MODELS+=("$(realpath "$2")"); shift 2 ;;
        --image) IMAGES+=("$(realpath "$2")"); shift 2 ;;
        *) die "unknown option '$1' (PIP_ARGS go after --)" ;;
    esac
done
[ "${1:-}" = "--" ] && [ $# -ge 2 ] || die "no PIP_ARGS after --"
shift
PIP_ARGS=("$@")

"$HERE/setup_arm64_root.sh" "$SUITE"
ROOT="$CATDOG_ARM64_CACHE/$SUITE/root"
WORK="$CATDOG_ARM64_CACHE/$SUITE/venvs/$NAME"
# The guest's HOME: holds pip's cache, and no pip config (the host's ~/.config/pip would apply).
GUEST_HOME="$CATDOG_ARM64_CACHE/home"
mkdir -p "$GUEST_HOME"

# What the packages' maintainer scripts would have done on a real install (the root is unpacked
# without running them): the BLAS/LAPACK alternatives numpy links against. Empty pip config files
# so that pip in the guest does not read the host's (qemu -L falls back to host paths).
ln -sfn blas/libblas.so.3 "$ROOT/usr/lib/aarch64-linux-gnu/libblas.so.3"
ln -sfn lapack/liblapack.so.3 "$ROOT/usr/lib/aarch64-linux-gnu/liblapack.so.3"
mkdir -p "$ROOT/etc/xdg/pip"
: >"$ROOT/etc/pip.conf"
: >"$ROOT/etc/xdg/pip/pip.conf"
DIST="$ROOT/usr/lib/python3/dist-packages"
if ! compgen -G "$DIST/simplejpeg-*.dist-info" >/dev/null; then
    log "$SUITE: stand-in for Raspberry Pi OS's python3-simplejpeg: $SIMPLEJPEG (PyPI aarch64 wheel)"
    plat=(); for x in $(seq 41 -1 17); do plat+=(--platform "manylinux_2_${x}_aarch64"); done
    "$HOST_PY" -m pip install --quiet --no-deps --no-compile --target "$DIST" \
        "${plat[@]}" --platform manylinux2014_aarch64 --python-version "$PY" --implementation cp \
        --only-binary=:all: "$SIMPLEJPEG" >&2
fi

guest() { HOME="$GUEST_HOME" "$HERE/arm64_python.sh" "$SUITE" "$@"; }
in_venv() { HOME="$GUEST_HOME" CATDOG_ARM64_PYTHON="$WORK/venv/bin/python3" "$HERE/arm64_python.sh" "$SUITE" "$@"; }

rm -rf "$WORK"
mkdir -p "$WORK"
exec > >(tee "$WORK/report.txt")
# --copies: the venv's python must be the arm64 binary itself, not a link to /usr/bin/python3
# (the host kernel would resolve that link to the host's python). --without-pip: ensurepip runs
# a subprocess, which the guest cannot (no binfmt_misc); the system pip (python3-pip, the same
# version ensurepip would copy) is seen through --system-site-packages.
log "$SUITE/$NAME: python3 -m venv --system-site-packages"
guest -m venv --copies --without-pip --system-site-packages "$WORK/venv"
log "$SUITE/$NAME: pip install ${PIP_ARGS[*]}"
t0=$SECONDS
in_venv -m pip install --no-compile "${PIP_ARGS[@]}" >"$WORK/pip.log" 2>&1 \
    || { log "$SUITE/$NAME: pip install failed (log: $WORK/pip.log)"; tail -n 5 "$WORK/pip.log" >&2; exit 1; }
grep -E '^(Collecting|Successfully|  Attempting|    Not uninstalling)' "$WORK/pip.log" >&2 || true
log "$SUITE/$NAME: pip took $((SECONDS - t0)) s"

# catdog itself, --no-deps (as `pip install --no-deps -e .` on the Pi): a wheel of this tree, built on
# the host from a copy of the package folders (building in the guest would need a subprocess).
src="$WORK/src"
mkdir -p "$src"
cp -r "$PROJECT_ROOT/pyproject.toml" "$PROJECT_ROOT/README.md" "$PROJECT_ROOT/runtime" "$PROJECT_ROOT/train" \
    "$PROJECT_ROOT/export" "$src/"
"$HOST_PY" -m pip wheel --quiet --no-deps -w "$WORK/dist" "$src" >&2
in_venv -m pip install --quiet --no-compile --no-deps "$WORK"/dist/catdog-*.whl >&2

status=0
log "$SUITE/$NAME: imports in the venv"
in_venv - "$ROOT" <<'EOF' || status=1
import importlib, sys
from importlib import metadata

root = sys.argv[1]
failed = False
import numpy
where = numpy.__file__.replace(root, "")
distro = numpy.__file__.startswith(root + "/usr/lib/python3/dist-packages/")
print(f"numpy {numpy.__version__} from {where} ({'the distro' if distro else 'the venv: NOT the distro'}'s)")
failed |= not distro
for module, dist in [("cv2", None), ("ai_edge_litert.interpreter", "ai-edge-litert"), ("onnxruntime", None),
                     ("ml_dtypes", None), ("simplejpeg", None), ("catdog.runtime", "catdog")]:
    try:
        imported = importlib.import_module(module)
        version = metadata.version(dist) if dist else getattr(imported, "__version__", "?")
        print(f"{module} {version} imports")
    except Exception as error:  # the point is to report any failure, e.g. numpy's ABI check
        print(f"{module} FAILS: {type(error).__name__}: {str(error).splitlines()[-1] if str(error) else ''}")
        failed = True
sys.exit(1 if failed else 0)
EOF

for model in ${MODELS[@]+"${MODELS[@]}"}; do
    [ ${#IMAGES[@]} -gt 0 ] || break
    base="$WORK/$(basename "$model")"
    log "$SUITE/$NAME: catdog-predict $(basename "$model") on ${#IMAGES[@]} images: x86 host, then emulated"
    "$PROJECT_ROOT/.venv/bin/catdog-predict" "$model" "${IMAGES[@]}" --json >"$base.x86.jsonl" 2>"$base.x86.err" \
        || { cat "$base.x86.err" >&2; status=1; continue; }
    in_venv "$WORK/venv/bin/catdog-predict" "$model" "${IMAGES[@]}" --json >"$base.arm64.jsonl" 2>"$base.arm64.err" \
        || { cat "$base.arm64.err" >&2; status=1; continue; }
    grep -m 1 '^catdog-predict: using' "$base.arm64.err" >&2 || true
    python3 - "$base.x86.jsonl" "$base.arm64.jsonl" "$(basename "$model")" <<'EOF' || status=1
import json, sys

x86, arm = ([json.loads(line) for line in open(path)] for path in sys.argv[1:3])
same = sum(a["label"] == b["label"] for a, b in zip(x86, arm))
diff = max(abs(a["probabilities"][k] - b["probabilities"][k]) for a, b in zip(x86, arm) for k in a["probabilities"])
labels = " ".join(a["label"] for a in arm)
print(f"{sys.argv[3]}: {same}/{len(x86)} labels as on x86 ({labels}); max probability difference {diff:.2g}")
sys.exit(0 if same == len(x86) == len(arm) else 1)
EOF
done
exit $status
