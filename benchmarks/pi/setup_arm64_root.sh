#!/usr/bin/env bash
# Build (once) a cached, emulated Debian arm64 root with the lean catdog runtime
# (numpy, opencv-python-headless, ai-edge-litert, onnxruntime; never TensorFlow)
# for running under qemu-user. See benchmarks/pi/README.md.
#
#   benchmarks/pi/setup_arm64_root.sh [bookworm|trixie|all]     (default: all)
#
# Environment:
#   CATDOG_ARM64_CACHE     cache dir (default ~/.cache/catdog/arm64); root in <cache>/<suite>/root
#   CATDOG_DEBIAN_MIRROR   Debian mirror (default: the one the host's apt sources use)
#   CATDOG_ARM64_PKGS      pip requirements for the root (default: the pins below; set but
#                          empty: no pip step, e.g. for check_pi_install.sh's venv)
#   CATDOG_ARM64_INCLUDE   extra Debian packages for the root, comma-separated (default none;
#                          e.g. python3-numpy,python3-pip,python3-venv as on Raspberry Pi OS)
#   CATDOG_HOST_PYTHON     host python whose pip downloads the aarch64 wheels
#                          (default: <project>/.venv/bin/python, else python3)
#
# Needs root (apt-get, debootstrap). Nothing is registered with binfmt_misc and no
# arm64 code runs during setup: debootstrap runs in --foreign mode and the .debs are
# unpacked on the host, which is enough for running the root's python3 via
# `qemu-aarch64-static -L ROOT` (see arm64_python.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${CATDOG_ARM64_CACHE:-$HOME/.cache/catdog/arm64}"
# Bump when the layout of the root changes, so old caches are rebuilt.
ROOT_STAMP="catdog-arm64-root v2"
# Same versions as the x86 dev venv; all four have aarch64 wheels for cp311 and cp313.
DEFAULT_PKGS="numpy==2.4.6 opencv-python-headless==5.0.0.93 ai-edge-litert==2.3.0 onnxruntime==1.31.1"
PKGS="${CATDOG_ARM64_PKGS-$DEFAULT_PKGS}"
# Debian packages of the root besides minbase: the interpreter (plus CATDOG_ARM64_INCLUDE).
# The wheels bundle their own native libs; libstdc++6/libgcc-s1 come with minbase (apt).
INCLUDE="python3${CATDOG_ARM64_INCLUDE:+,$CATDOG_ARM64_INCLUDE}"

log() { printf '[setup_arm64_root %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

suite_python() {
    case "$1" in
        bookworm) echo 3.11 ;;
        trixie) echo 3.13 ;;
        *) die "unknown suite '$1' (expected bookworm, trixie or all)" ;;
    esac
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_host_tools() {
    local missing=()
    command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v dpkg-deb >/dev/null || missing+=(dpkg)
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing host packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

# The Debian mirror the host's apt uses (first non-security "debian" URI), so no
# other host is ever contacted.
host_mirror() {
    if [ -n "${CATDOG_DEBIAN_MIRROR:-}" ]; then echo "$CATDOG_DEBIAN_MIRROR"; return; fi
    local uris=""
    shopt -s nullglob
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        uris+=" $(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) print $i}' "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uris+=" $(awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) {print $i; break}}' "$f")"
    done
    shopt -u nullglob
    local u
    for u in $uris; do
        case "$u" in
            *security*|*debian-ports*) continue ;;
            */debian|*/debian/) echo "${u%/}"; return ;;
        esac
    done
    die "could not find a Debian mirror in the host's apt sources; set CATDOG_DEBIAN_MIRROR"
}

host_python() {
    if [ -n "${CATDOG_HOST_PYTHON:-}" ]; then echo "$CATDOG_HOST_PYTHON"; return; fi
    if [ -x "$PROJECT_ROOT/.venv/bin/python" ] && "$PROJECT_ROOT/.venv/bin/python" -m pip --version >/dev/null 2>&1; then
        echo "$PROJECT_ROOT/.venv/bin/python"; return
    fi
    if ! python3 -m pip --version >/dev/null 2>&1; then
        log "installing host python3-pip"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >&2
    fi
    echo python3
}

# A Raspberry Pi 4 style aarch64 /proc/cpuinfo (4x Cortex-A72, as a 64-bit kernel
# prints it). qemu-user's -L ROOT makes the guest's open("/proc/cpuinfo") read
# ROOT/proc/cpuinfo; without it the guest sees the host's x86 cpuinfo, and the
# cpuinfo library inside LiteRT/XNNPACK and onnxruntime fails to detect any ARM
# core and crashes.
write_cpuinfo() {
    local out="$1" i
    : >"$out"
    for i in 0 1 2 3; do
        cat >>"$out" <<EOF
processor	: $i
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

EOF
    done
    cat >>"$out" <<'EOF'
Hardware	: BCM2835
Revision	: c03114
Serial		: 10000000deadbeef
Model		: Raspberry Pi 4 Model B Rev 1.4
EOF
}

build_root() {
    local suite="$1" dir="$CACHE/$1" root="$CACHE/$1/root"
    local stamp="$ROOT_STAMP include=$INCLUDE"
    if [ -f "$dir/.root-done" ] && [ "$(cat "$dir/.root-done")" = "$stamp" ]; then
        log "$suite: root already built ($root)"
        return
    fi
    local mirror; mirror="$(host_mirror)"
    local tmp="$dir/root.partial"
    as_root rm -rf "$tmp" "$root" "$dir/.root-done" "$dir/.site-done"
    mkdir -p "$dir"
    log "$suite: debootstrap --foreign --arch=arm64 --variant=minbase --include=$INCLUDE from $mirror (downloads ~40 MB)"
    local t0=$SECONDS
    if ! as_root debootstrap --foreign --arch=arm64 --variant=minbase --include="$INCLUDE" \
        "$suite" "$tmp" "$mirror" >"$dir/debootstrap.log" 2>&1; then
        tail -n 20 "$dir/debootstrap.log" >&2
        die "$suite: debootstrap failed (full log: $dir/debootstrap.log)"
    fi
    # The second stage would need arm64 code (and binfmt_misc). Running python3 under
    # qemu -L only needs the files, so unpack every downloaded .deb on the host, the
    # same way debootstrap's first stage does (keeping the merged-/usr symlinks).
    local debs=("$tmp"/var/cache/apt/archives/*.deb)
    log "$suite: unpacking ${#debs[@]} packages on the host"
    local deb
    for deb in "${debs[@]}"; do
        dpkg-deb --fsys-tarfile "$deb" | as_root tar -x --keep-directory-symlink -C "$tmp" -f -
    done
    as_root rm -f "$tmp"/var/cache/apt/archives/*.deb
    # Docs, man pages and translations are not needed to run python (~40 MB).
    as_root rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/usr/share/info" "$tmp/usr/share/locale"
    [ -x "$tmp/usr/bin/python3" ] || die "$suite: $tmp/usr/bin/python3 missing after unpacking"
    # qemu -L looks every absolute path up in ROOT first and falls back to the host
    # path when it does not exist there. Drop the root's (empty or container-made)
    # runtime dirs so the guest sees the host's /dev, /tmp, /run, /sys, /home, /root;
    # /proc keeps only the ARM cpuinfo (debootstrap leaves a /proc -> /proc link in
    # containers).
    as_root rm -rf "$tmp/dev" "$tmp/tmp" "$tmp/run" "$tmp/sys" "$tmp/home" "$tmp/root" \
        "$tmp/mnt" "$tmp/media" "$tmp/proc"
    as_root mkdir -p "$tmp/proc" "$tmp/opt"
    local cpuinfo; cpuinfo="$(mktemp)"
    write_cpuinfo "$cpuinfo"
    as_root install -m 0644 "$cpuinfo" "$tmp/proc/cpuinfo"
    rm -f "$cpuinfo"
    # Let the invoking (possibly non-root) user write the pip target and shim.
    as_root chown "$(id -u):$(id -g)" "$tmp/opt"
    as_root mv "$tmp" "$root"
    echo "$stamp" >"$dir/.root-done"
    log "$suite: root ready in $((SECONDS - t0)) s ($(du -sh "$root" 2>/dev/null | cut -f1))"
}

install_site() {
    local suite="$1" py; py="$(suite_python "$1")"
    local dir="$CACHE/$suite" root="$CACHE/$suite/root"
    local site="$root/opt/catdog-site" stamp="$ROOT_STAMP python=$py pkgs=$PKGS"
    if [ -f "$dir/.site-done" ] && [ "$(cat "$dir/.site-done")" = "$stamp" ] && [ -d "$site" ]; then
        log "$suite: aarch64 wheels already installed ($site)"
        return
    fi
    local t0=$SECONDS
    rm -rf "$site.partial" "$dir/.site-done"
    mkdir -p "$site.partial"
    if [ -n "$PKGS" ]; then
        local hpy; hpy="$(host_python)"
        # Accept every manylinux tag the root's glibc can load (bookworm 2.36, trixie 2.41).
        local plat=() x
        for x in $(seq 41 -1 17); do plat+=(--platform "manylinux_2_${x}_aarch64"); done
        plat+=(--platform manylinux2014_aarch64 --platform linux_aarch64)
        log "$suite: pip install --target ... --python-version $py aarch64 wheels: $PKGS"
        # shellcheck disable=SC2086
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$hpy" -m pip install --quiet --no-compile --target "$site.partial" \
            "${plat[@]}" --python-version "$py" --implementation cp --only-binary=:all: $PKGS >&2
    fi
    rm -rf "$site"
    mv "$site.partial" "$site"
    # Shim so that `import catdog.runtime` (and catdog.export, ...) resolves to
    # <project>/runtime like the setuptools package-dir mapping in pyproject.toml;
    # the project root comes from CATDOG_PROJECT_ROOT, set by arm64_python.sh.
    mkdir -p "$root/opt/catdog-src/catdog"
    cat >"$root/opt/catdog-src/catdog/__init__.py" <<'EOF'
# Generated by benchmarks/pi/setup_arm64_root.sh: maps catdog.<name> to
# $CATDOG_PROJECT_ROOT/<name> (pyproject.toml's package-dir), for arm64_python.sh.
import os as _os

_root = _os.environ.get("CATDOG_PROJECT_ROOT")
if _root:
    __path__.append(_root)
del _os, _root
EOF
    # Record what was installed (read from the wheels' metadata, no arm64 code run).
    (shopt -s nullglob; cd "$site" && for m in *.dist-info/METADATA; do
        awk '/^Name:/ {n=$2} /^Version:/ {v=$2} END {print n "==" v}' "$m"
    done) | sort -f >"$dir/versions.txt"
    echo "$stamp" >"$dir/.site-done"
    log "$suite: wheels installed in $((SECONDS - t0)) s ($(du -sh "$site" | cut -f1)); versions in $dir/versions.txt"
}

main() {
    local arg="${1:-all}" suites
    case "$arg" in
        all) suites="bookworm trixie" ;;
        bookworm|trixie) suites="$arg" ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) die "usage: $0 [bookworm|trixie|all]" ;;
    esac
    local s all_done=1
    for s in $suites; do
        [ -f "$CACHE/$s/.ready" ] && [ "$(cat "$CACHE/$s/.ready")" = "$ROOT_STAMP include=$INCLUDE python=$(suite_python "$s") pkgs=$PKGS" ] || all_done=0
    done
    if [ "$all_done" = 1 ]; then
        for s in $suites; do log "$s: ready ($CACHE/$s/root)"; done
        return
    fi
    ensure_host_tools
    for s in $suites; do
        build_root "$s"
        install_site "$s"
        echo "$ROOT_STAMP include=$INCLUDE python=$(suite_python "$s") pkgs=$PKGS" >"$CACHE/$s/.ready"
        log "$s: ready ($CACHE/$s/root); run: $HERE/arm64_python.sh $s -c 'import platform; print(platform.machine())'"
    done
}

main "$@"
