"""This machine as far as the speed of an artifact goes: CPU, the instruction sets int8 and fp16 kernels use,
cores, and the interpreters' versions. The fastest-artifact cache (catdog.runtime.auto) is keyed by it; the
benchmark's machine line reads /proc/cpuinfo through it too."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

from catdog.runtime.metadata import package_versions

# x86: AVX2, AVX-512 and VNNI (int8 dot products); Arm: dot product, int8 matrix multiply, fp16 arithmetic.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avxvnni", "asimddp", "i8mm", "asimdhp")
INTERPRETERS = ("ai-edge-litert", "tflite-runtime", "onnxruntime")


def cpuinfo() -> dict[str, str]:
    """The first value of every field of /proc/cpuinfo (empty where there is none)."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model(fields: dict[str, str]) -> str:
    """The CPU model as /proc/cpuinfo's `fields` say (a Pi says its board model), else platform's word."""
    model = next((fields[k] for k in ("model name", "Model", "Hardware", "cpu model") if fields.get(k)), None)
    return model or platform.processor() or platform.machine()


def machine_identity() -> dict:
    """What decides which artifact runs fastest here (JSON-ready): CPU model, architecture, the SPEED_FLAGS it
    has, CPU count and the installed interpreters' versions."""
    fields = cpuinfo()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())  # x86 says flags, Arm Features
    return {
        "cpu": cpu_model(fields),
        "architecture": platform.machine(),
        "flags": [flag for flag in SPEED_FLAGS if flag in flags],
        "cores": os.cpu_count(),
        "interpreters": package_versions(INTERPRETERS),
    }
