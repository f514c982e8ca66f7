"""The filter of TensorFlow's known harmless lines (catdog.export.noise), on bytes, without TensorFlow."""

import os
import subprocess
import sys

from catdog.export.noise import copy_filtered, is_noise

NOISE_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796603389.987352    6533 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    b"not be used.\n",
    b"E0000 00:00:1796603396.153040    6533 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    b"call to cuInit: UNKNOWN ERROR (303)\n",
    b"E0000 00:00:1796603399.109801    6533 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool "
    b"which is not in the op definition: Op<name=MapDataset; signature=input_dataset:variant> NodeDef: {{node x}}\n",
    b"I0000 00:00:1796644760.435240    2272 port.cc:153] oneDNN custom operations are on. You may see slightly "
    b"different numerical results due to floating-point round-off errors from different computation orders. To turn "
    b"them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: UINT8, output_inference_type: UINT8\n",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
]
KEPT = [
    b"catdog-export: error: model_int8.tflite: export failed\n",
    b"E0000 00:00:1796603396.153040    6533 cuda_platform.cc:52] failed call to cuInit: CUDA_ERROR_NO_DEVICE\n",
    b"F0000 00:00:1796603396.153040    6533 op_kernel.cc:1] Check failed: something real\n",
    b"Epoch 1/6\n",
]
BAR = b"\rparity:  50%|#####     | 24/48"  # a progress bar's update: no end of line


def filtered(chunks: list[bytes]) -> bytes:
    """What copy_filtered passes on of these writes."""
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    for chunk in chunks:
        os.write(write_in, chunk)
    os.close(write_in)
    copy_filtered(read_in, write_out)
    os.close(write_out)
    with os.fdopen(read_out, "rb") as out:
        return out.read()


def test_only_the_known_lines_are_dropped():
    assert all(is_noise(line) for line in NOISE_LINES)
    assert not any(is_noise(line) for line in KEPT)
    mixed = [line for pair in zip(KEPT, NOISE_LINES) for line in pair]
    assert filtered([b"".join(mixed)]) == b"".join(KEPT)
    assert filtered([NOISE_LINES[0] + BAR, NOISE_LINES[1] + BAR]) == BAR + NOISE_LINES[1] + BAR  # same line


def test_a_line_split_across_writes_is_judged_whole():
    line = NOISE_LINES[1]
    assert filtered([line[:1], line[1:9], line[9:]]) == b""
    assert filtered([b"I", b"0000 real message\n"]) == b"I0000 real message\n"


def test_the_child_process_passes_on_what_it_reads():
    """`python -m catdog.export.noise`, as filtered_stderr runs it: stdin to stdout, less the noise."""
    data = b"".join(NOISE_LINES + KEPT) + BAR
    result = subprocess.run([sys.executable, "-m", "catdog.export.noise"], input=data, capture_output=True)
    assert (result.returncode, result.stdout) == (0, b"".join(KEPT) + BAR)
