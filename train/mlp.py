"""The numpy baseline of `catdog-train --model mlp`: a two-layer network (dense ReLU, dense softmax) on
average-pooled pixels, trained with numpy alone, then copied into its Keras twin (models._mlp) so that it
exports and runs on the board like any model.

Shapes: x (n, d) pixels scaled to 0-1, W1 (d, h), b1 (h,), W2 (h, k), b2 (k,): the layouts of Keras'
Dense kernels and biases, so the same arrays go into the Keras model.
"""

from __future__ import annotations

import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from catdog.runtime.images import load_prepared

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-7  # Keras' default


def features(pixels: np.ndarray, pool: int) -> np.ndarray:
    """(n, size, size, 3) raw pixels -> (n, d) float64: average-pooled by `pool` (valid windows, as
    Keras' AveragePooling2D), scaled to 0-1, flattened in NHWC order (as Keras' Flatten)."""
    n, height, width, channels = pixels.shape
    side_h, side_w = height // pool, width // pool
    x = pixels[:, : side_h * pool, : side_w * pool].astype(np.float64)
    x = x.reshape(n, side_h, pool, side_w, pool, channels).mean(axis=(2, 4))
    return (x / 255).reshape(n, -1)


def load_pixels(items, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Prepared pixels (n, size, size, 3) uint8 and labels (n,) of (path, label) items, as the board sees them."""
    with ThreadPoolExecutor(4) as pool:  # OpenCV releases the GIL while decoding
        pixels = list(pool.map(lambda item: load_prepared(item[0], size), items))
    return np.stack(pixels), np.array([y for _, y in items])


def initialize(d: int, h: int, k: int, seed: int) -> dict:
    """He-normal weights for the ReLU layer, Glorot-scaled for the softmax layer, zero biases."""
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0, math.sqrt(2 / d), (d, h)),
        "b1": np.zeros(h),
        "W2": rng.normal(0, math.sqrt(2 / (h + k)), (h, k)),
        "b2": np.zeros(k),
    }


def forward(params: dict, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Class probabilities (n, k) and what backward() needs."""
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ params["W2"] + params["b2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    probabilities = e / e.sum(axis=1, keepdims=True)
    return probabilities, {"x": x, "z1": z1, "a1": a1, "p": probabilities}


def cost(probabilities: np.ndarray, y: np.ndarray, params: dict | None = None, l2: float = 0.0) -> float:
    """Mean cross-entropy, plus l2 * (sum of squared weights) when `params` is given."""
    loss = -np.mean(np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-12, None)))
    if params is not None and l2:
        loss += l2 * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return float(loss)


def backward(params: dict, cache: dict, y: np.ndarray, l2: float = 0.0) -> dict:
    """Gradients of cost() with respect to every parameter."""
    n = len(y)
    dz2 = cache["p"].copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    da1 = dz2 @ params["W2"].T
    dz1 = da1 * (cache["z1"] > 0)
    return {
        "W1": cache["x"].T @ dz1 + 2 * l2 * params["W1"],
        "b1": dz1.sum(axis=0),
        "W2": cache["a1"].T @ dz2 + 2 * l2 * params["W2"],
        "b2": dz2.sum(axis=0),
    }


def update(params: dict, grads: dict, state: dict, learning_rate: float) -> None:
    """One Adam step, in place (`state` holds the step count and both moment estimates)."""
    beta1, beta2 = ADAM_BETAS
    state["t"] = t = state.get("t", 0) + 1
    for key, grad in grads.items():
        m = state[f"m{key}"] = beta1 * state.get(f"m{key}", 0) + (1 - beta1) * grad
        v = state[f"v{key}"] = beta2 * state.get(f"v{key}", 0) + (1 - beta2) * grad**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        params[key] -= learning_rate * m_hat / (np.sqrt(v_hat) + ADAM_EPSILON)


def accuracy(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == y))


def train_numpy(
    x,
    y,
    x_monitor,
    y_monitor,
    hidden: int,
    classes: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    l2: float,
    seed: int,
    progress=None,
) -> tuple[dict, dict]:
    """Mini-batch Adam on shuffled batches; return the parameters of the epoch with the lowest loss on
    the monitor set, and the per-epoch history (loss, accuracy, val_loss, val_accuracy as Keras names them)."""
    params = initialize(x.shape[1], hidden, classes, seed)
    rng = np.random.default_rng(seed)
    state, history, best = {}, {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}, None
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            probabilities, cache = forward(params, x[batch])
            update(params, backward(params, cache, y[batch], l2), state, learning_rate)
        for prefix, (xs, ys) in (("", (x, y)), ("val_", (x_monitor, y_monitor))):
            probabilities, _ = forward(params, xs)
            history[f"{prefix}loss"].append(cost(probabilities, ys))
            history[f"{prefix}accuracy"].append(accuracy(probabilities, ys))
        if best is None or history["val_loss"][-1] < best[0]:
            best = (history["val_loss"][-1], {key: value.copy() for key, value in params.items()})
        if progress:
            progress(history)
    return best[1], history


def copy_into(model, params: dict) -> None:
    """Put the numpy parameters into the Keras twin (float32, as Keras keeps them)."""
    model.get_layer("hidden").set_weights([params["W1"].astype(np.float32), params["b1"].astype(np.float32)])
    model.get_layer("probabilities").set_weights([params["W2"].astype(np.float32), params["b2"].astype(np.float32)])


def one_blas_thread():
    """Numpy's BLAS on one thread while the numpy network trains. Its matrices are small (a batch of 32
    against 3,072 x 64 weights): on a quiet 2-core machine one thread is about as fast as BLAS's own
    threads (40 epochs of 1,800 images: 4.9 s vs 4.1 s), but beside other jobs the threads wait on each
    other (5 epochs: 7.2 s vs 1.4 s with one), which had made a run take minutes. threadpoolctl comes
    with keras-tuner[bayesian] (scikit-learn) in the train extra; without it BLAS keeps its threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def fit(
    model,
    train_items,
    monitor_items,
    checkpoint_path,
    *,
    size: int,
    epochs: int,
    batch_size: int,
    lr: float,
    l2: float = 0.0,
    seed: int = 42,
    quiet: bool = False,
) -> dict:
    """`catdog-train --model mlp`: train the numpy network on the training items (best epoch by loss on
    `monitor_items`), copy it into `model`, check both give the same probabilities on the monitor images,
    save the model to `checkpoint_path` (mlp.json beside it: the difference and where the time went) and
    return the history."""
    from tqdm.auto import tqdm

    from catdog.runtime.files import write_json
    from catdog.train.models import MLP_HIDDEN, mlp_pool

    pool = mlp_pool(size)
    say = (lambda *a: None) if quiet else print
    say(
        f"numpy MLP: {len(train_items)} training images pooled {pool}x to {size // pool}x{size // pool} "
        f"RGB, {MLP_HIDDEN} hidden units, {epochs} epochs, Adam at lr {lr}"
    )
    started = time.perf_counter()
    pixels, y = load_pixels(train_items, size)
    monitor_pixels, y_monitor = load_pixels(monitor_items, size)
    x, x_monitor = features(pixels, pool), features(monitor_pixels, pool)
    loaded = time.perf_counter()
    bar = tqdm(total=epochs, unit="epoch", disable=quiet)

    def progress(history):
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", val_loss=f"{history['val_loss'][-1]:.4f}")
        bar.update()

    with one_blas_thread():
        params, history = train_numpy(
            x,
            y,
            x_monitor,
            y_monitor,
            MLP_HIDDEN,
            model.output_shape[-1],
            epochs,
            batch_size,
            lr,
            l2,
            seed,
            progress,
        )
        numpy_probabilities, _ = forward(params, x_monitor)
    bar.close()
    trained = time.perf_counter()
    copy_into(model, params)
    keras_probabilities = model.predict(monitor_pixels.astype(np.float32), batch_size=batch_size, verbose=0)
    difference = float(np.abs(numpy_probabilities - keras_probabilities).max())
    seconds = {
        "load_seconds": round(loaded - started, 2),
        "train_seconds": round(trained - loaded, 2),
        "keras_check_seconds": round(time.perf_counter() - trained, 2),
    }
    print(
        f"numpy MLP: {len(train_items) + len(monitor_items)} images loaded in {seconds['load_seconds']:.1f} s, "
        f"trained in {seconds['train_seconds']:.1f} s ({epochs} epochs); numpy vs Keras: largest "
        f"probability difference {difference:.2e} on {len(monitor_items)} images"
    )
    write_json(
        checkpoint_path.parent / "mlp.json",
        {"numpy_keras_max_difference": difference, "images": len(monitor_items), "pool": pool, **seconds},
    )
    model.save(checkpoint_path)
    return history
