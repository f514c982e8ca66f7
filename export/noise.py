"""The known harmless messages of TensorFlow and its converters, kept out of catdog-train's and catdog-export's
output (their --verbose keeps them all).

Python's own (a warning, an absl log record) are filtered where they are made, by their exact message. The C++
ones (absl logging before it is initialised, CUDA probing on a machine without a GPU driver, a tf.data graph
rewrite, the TFLite quantizer's printout) are written straight to file descriptor 2, so `filtered_stderr` sends
that descriptor through a small child process which drops exactly the lines matching NOISE and passes every
other byte on as it comes: an unknown line, a real error and a progress bar are never held back, and a child
process still passes on what the parent wrote just before it crashed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import warnings

GLOG = rb"[IWEF]\d{4} [\d:.]+ +\d+ "  # absl's C++ prefix: severity, date, time, thread
NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|" + GLOG + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\."
    rb"|" + GLOG + rb"cuda_platform\.cc:\d+\] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: "
    rb"UNKNOWN ERROR \(303\)"  # no driver at all; any other cuInit error is shown
    rb"|" + GLOG + rb"port\.cc:\d+\] oneDNN custom operations are on\. You may see slightly different numerical "
    rb"results due to floating-point round-off errors from different computation orders\. To turn them off, set the "
    rb"environment variable `TF_ENABLE_ONEDNN_OPTS=0`\."  # on CPUs with AVX-512
    rb"|" + GLOG + rb"node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool which is not in "
    rb"the op definition: .*"
    rb"|fully_quantize: \d, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
)
STARTS = (b"WARNING: All log messages", b"fully_quantize: ", b"INFO: Created TensorFlow Lite")  # of NOISE
PYTHON_WARNINGS = (r"Statistics for quantized inputs were expected, but not specified; continuing anyway\.",)
ABSL_RECORDS = re.compile(r"Please consider providing the trackable_obj argument in the from_concrete_functions\.")


def is_noise(line: bytes) -> bool:
    """Whether a whole line (its end of line included) is one of NOISE."""
    return NOISE.fullmatch(line.rstrip(b"\r\n")) is not None


def may_be_noise(start: bytes) -> bool:
    """Whether an unfinished line may still turn out to be one of NOISE (it is then held back until it ends)."""
    glog = re.match(rb"[IWEF]\d{0,4}(?: |$)", start) is not None
    return glog or any(known.startswith(start) or start.startswith(known) for known in STARTS)


def quiet_python() -> None:
    """Filter the known harmless Python warnings and absl log records by their exact message."""
    for message in PYTHON_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
    try:
        from absl import logging as absl_logging  # TensorFlow's: absl must make its logger itself
    except ImportError:
        return
    absl_logging.get_absl_logger().addFilter(lambda record: not ABSL_RECORDS.match(record.getMessage()))


@contextlib.contextmanager
def quiet_tensorflow(enabled: bool = True):
    """TensorFlow's known harmless output left out while inside, unless not `enabled` (--verbose): its info lines
    (TF_CPP_MIN_LOG_LEVEL, so enter before TensorFlow is imported), the Python ones (quiet_python) and the C++ ones
    (filtered_stderr)."""
    if enabled:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        quiet_python()
    with filtered_stderr(enabled):
        yield


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True):
    """File descriptor 2 through `python -m catdog.export.noise` (the lines of NOISE dropped) while inside."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        child = subprocess.Popen([sys.executable, "-m", "catdog.export.noise"], stdin=subprocess.PIPE, stdout=saved)
    except OSError:  # no stderr, or no child process: everything as it is
        yield
        return
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        child.stdin.close()  # the child ends when every writer has closed the pipe
        with contextlib.suppress(subprocess.TimeoutExpired):  # a grandchild may still hold it: do not wait on it
            child.wait(timeout=5)


def copy_filtered(source: int, target: int) -> None:
    """Copy bytes from one descriptor to another as they come, less the lines of NOISE."""
    held, passing = b"", False  # the start of a line not judged yet; whether the current line is going through
    while chunk := os.read(source, 65536):
        for piece in re.split(rb"(?<=[\r\n])", chunk):
            if not piece:
                continue
            ended = piece.endswith((b"\n", b"\r"))
            if passing:
                write(target, piece)
                passing = not ended
                continue
            line, held = held + piece, b""
            if ended:
                if not is_noise(line):
                    write(target, line)
            elif may_be_noise(line):
                held = line
            else:
                write(target, line)
                passing = True
    write(target, held)


def write(target: int, data: bytes) -> None:
    """Write all of data; a closed target swallows it (the pipe must still be drained)."""
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(target, data) :]


if __name__ == "__main__":  # the child of filtered_stderr: stdin to stdout until every writer is gone
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # Ctrl-C and kill go to the parent, which ends the pipe
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    copy_filtered(sys.stdin.fileno(), sys.stdout.fileno())
