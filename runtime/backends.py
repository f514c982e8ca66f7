"""One small interface over the interpreters that run on the board: LiteRT for .tflite, onnxruntime for .onnx."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from catdog.runtime.kinds import SUFFIXES, format_of


class BackendError(RuntimeError):
    """An artifact that no installed interpreter can load."""


def default_threads() -> int:
    """The CPUs this process may run on: every interpreter's thread count unless told otherwise.
    (LiteRT's Python Interpreter would use 1 thread, onnxruntime all cores: never compare the two that way.)"""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _tflite_interpreter_class():
    """LiteRT, else the old tflite_runtime (never TensorFlow: the board does not have it); with its name."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"
    except ImportError:
        raise BackendError("no TFLite interpreter installed: pip install ai-edge-litert") from None


# What LiteRT's C++ side prints on every load, to no purpose for the user: left out of stderr, all else kept.
LITERT_CHATTER = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


@contextlib.contextmanager
def without_chatter():
    """Catch what native code writes to stderr (file descriptor 2) in the block and pass it on afterwards,
    every line except LITERT_CHATTER."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines()
            kept = [line for line in lines if line not in LITERT_CHATTER]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class TFLiteBackend:
    """A .tflite model on LiteRT (XNNPACK on CPU)."""

    def __init__(self, path: str | Path, threads: int):
        interpreter_class, self.engine = _tflite_interpreter_class()
        self.threads = threads
        try:
            with without_chatter():
                self.interpreter = interpreter_class(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise BackendError(f"cannot load {path} with {self.engine}: {str(error).splitlines()[0]}") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_dtype = np.dtype(self.input["dtype"])
        self.input_shape = tuple(int(d) for d in self.input["shape"])

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw output (still quantized for an int8 model) for an input of the model's dtype and shape."""
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])


class ONNXBackend:
    """An .onnx model on onnxruntime's CPU provider."""

    engine = "onnxruntime"

    def __init__(self, path: str | Path, threads: int):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError(
                f"cannot load {path}: onnxruntime is not installed (pip install 'catdog[onnx]'; "
                "the base install runs .tflite artifacts only)"
            ) from None
        self.threads = threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise BackendError(f"cannot load {path} with onnxruntime: {str(error).splitlines()[0]}") from None
        tensor = self.session.get_inputs()[0]
        self.input_name = tensor.name
        self.input_dtype = np.dtype({"tensor(uint8)": np.uint8, "tensor(int8)": np.int8}.get(tensor.type, np.float32))
        self.input_shape = tuple(d if isinstance(d, int) else 1 for d in tensor.shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Output of the model's first output for one input batch."""
        return self.session.run(None, {self.input_name: batch})[0]


BACKENDS = {"tflite": TFLiteBackend, "onnx": ONNXBackend}  # file format (catdog.runtime.kinds) -> backend


def make_interpreter(path: str | Path, threads: int | None = None):
    """Load an artifact with the interpreter its file type needs, on `threads` CPU threads (default: every CPU
    this process may use, see default_threads)."""
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"model file not found: {path}")
    if format_of(path.suffix) not in BACKENDS:
        raise BackendError(f"unknown model type {path.suffix!r} for {path}; expected {' or '.join(SUFFIXES.values())}")
    return BACKENDS[format_of(path.suffix)](path, threads or default_threads())
