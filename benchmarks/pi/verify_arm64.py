#!/usr/bin/env python3
"""Run TFLite / ONNX models on a fixed .npy input and print the outputs as JSON;
optionally run the same thing in the emulated arm64 roots and compare.

Only the lean runtime is imported (numpy, ai_edge_litert, onnxruntime), so this runs
both in the x86 venv and under benchmarks/pi/arm64_python.sh.

    # outputs of this interpreter (x86 venv, or inside the arm64 root):
    python benchmarks/pi/verify_arm64.py model.tflite model.onnx --input x.npy
    benchmarks/pi/arm64_python.sh trixie benchmarks/pi/verify_arm64.py model.tflite --input x.npy

    # run here, then in each emulated suite, and compare (exit 1 on a label mismatch):
    python benchmarks/pi/verify_arm64.py model.tflite model.onnx --input x.npy --suites bookworm,trixie

The input is a batch (N, ...) fed one sample at a time (models usually have batch 1).
A uint8 batch is fed as is to uint8 inputs, quantized with the input's scale/zero
point for int8 inputs, and cast for float inputs; a float batch is quantized for
integer inputs. Labels are the argmax of each (dequantized) output row.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _to_dtype(x: np.ndarray, dtype: np.dtype, scale: float = 0.0, zero_point: int = 0) -> np.ndarray:
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        xf = x.astype(np.float32)
        if scale:
            xf = np.round(xf / scale) + zero_point
        return np.clip(xf, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def run_tflite(path: str, batch: np.ndarray, threads: int | None) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads)
    inp = interp.get_input_details()[0]
    shape = [1, *batch.shape[1:]]
    if list(inp["shape"]) != shape:
        interp.resize_tensor_input(inp["index"], shape)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    scale, zp = inp["quantization"]
    raw, deq = [], []
    t0 = time.perf_counter()
    for sample in batch:
        interp.set_tensor(inp["index"], _to_dtype(sample[None], inp["dtype"], scale, zp))
        interp.invoke()
        o = outs[0]
        y = interp.get_tensor(o["index"])[0]
        raw.append(y.tolist())
        s, z = o["quantization"]
        deq.append(((y.astype(np.float32) - z) * s).tolist() if s else y.astype(np.float32).tolist())
    dt = time.perf_counter() - t0
    return {"kind": "tflite", "output_dtype": str(np.dtype(outs[0]["dtype"])), "raw": raw,
            "dequantized": deq, "labels": [int(np.argmax(d)) for d in deq], "seconds": dt}


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
              "tensor(float16)": np.float16, "tensor(double)": np.float64}


def run_onnx(path: str, batch: np.ndarray, threads: int | None) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = _ORT_TYPES.get(inp.type, np.float32)
    raw = []
    t0 = time.perf_counter()
    for sample in batch:
        y = sess.run(None, {inp.name: _to_dtype(sample[None], dtype)})[0][0]
        raw.append(np.asarray(y).tolist())
    dt = time.perf_counter() - t0
    deq = [np.asarray(r, dtype=np.float32).tolist() for r in raw]
    return {"kind": "onnx", "output_dtype": str(np.asarray(raw[0]).dtype) if raw else "?", "raw": raw,
            "dequantized": deq, "labels": [int(np.argmax(d)) for d in deq], "seconds": dt}


def run_all(models: list[str], input_path: str, threads: int | None) -> dict:
    batch = np.load(input_path)
    versions = {"numpy": np.__version__}
    result = {"machine": platform.machine(), "python": platform.python_version(),
              "suite": os.environ.get("CATDOG_ARM64_SUITE", "host"), "versions": versions, "models": {}}
    for m in models:
        m = str(Path(m).resolve())
        if m.endswith(".tflite"):
            result["models"][m] = run_tflite(m, batch, threads)
            import ai_edge_litert
            versions["ai_edge_litert"] = getattr(ai_edge_litert, "__version__", "?")
        elif m.endswith(".onnx"):
            result["models"][m] = run_onnx(m, batch, threads)
            import onnxruntime
            versions["onnxruntime"] = onnxruntime.__version__
        else:
            raise SystemExit(f"unsupported model type: {m}")
    return result


def compare(ref: dict, other: dict) -> list[str]:
    """Differences between two run_all results (labels, max |raw diff|); empty if none."""
    problems = []
    for m, r in ref["models"].items():
        o = other["models"].get(m)
        name = f"{Path(m).name} [{other['suite']}/{other['machine']}/py{other['python']}]"
        if o is None:
            problems.append(f"{name}: missing")
            continue
        a = np.asarray(r["dequantized"], dtype=np.float64)
        b = np.asarray(o["dequantized"], dtype=np.float64)
        raw_diff = float(np.max(np.abs(np.asarray(r["raw"], np.float64) - np.asarray(o["raw"], np.float64))))
        mism = [i for i, (x, y) in enumerate(zip(r["labels"], o["labels"])) if x != y]
        print(f"{name}: labels {'identical' if not mism else f'DIFFER at {mism}'}, "
              f"max |raw diff| {raw_diff:g}, max |dequantized diff| {float(np.max(np.abs(a - b))):g}, "
              f"{o['seconds']:.3f}s vs {r['seconds']:.3f}s here", file=sys.stderr)
        if mism:
            problems.append(f"{name}: labels differ at samples {mism}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".tflite and/or .onnx files")
    ap.add_argument("--input", required=True, help=".npy batch (N, ...), fed one sample at a time")
    ap.add_argument("--threads", type=int, default=None, help="interpreter threads (default: runtime's)")
    ap.add_argument("--suites", default="", help="also run in these emulated suites (comma list: bookworm,trixie)"
                    " via arm64_python.sh and compare with this run")
    ap.add_argument("--json", help="write the JSON here instead of stdout")
    args = ap.parse_args(argv)

    result = run_all(args.models, args.input, args.threads)
    if args.suites:
        result["emulated"] = {}
        problems = []
        for suite in [s for s in args.suites.split(",") if s]:
            cmd = [str(HERE / "arm64_python.sh"), suite, str(Path(__file__).resolve()),
                   *[str(Path(m).resolve()) for m in args.models], "--input", str(Path(args.input).resolve())]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                problems.append(f"{suite}: arm64 run failed with exit code {proc.returncode}")
                continue
            other = json.loads(proc.stdout)
            other["wall_seconds"] = time.perf_counter() - t0
            result["emulated"][suite] = other
            problems += compare(result, other)
        for p in problems:
            print("MISMATCH: " + p, file=sys.stderr)
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    return 1 if args.suites and problems else 0


if __name__ == "__main__":
    sys.exit(main())
