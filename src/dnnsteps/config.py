"""The runtime: smoke or full mode, repeatable runs, and what a record says it ran on.

The mode is asked for, never guessed from the hardware: ``DNNSTEPS_SMOKE=1`` trains two
epochs on a subset; ``DNNSTEPS_FULL=1`` in full, and a real miss fails the notebook (``results.verdict``).
"""

from __future__ import annotations

import os
import platform

from .errors import DnnstepsError

SMOKE_TRAIN_SIZE = 2000
SMOKE_TEST_SIZE = 1000
SMOKE_EPOCHS = 2

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def smoke_mode() -> bool:
    """Whether training uses the small smoke subset and stops after two epochs."""
    if _flag("DNNSTEPS_SMOKE") and _flag("DNNSTEPS_FULL"):
        raise DnnstepsError("DNNSTEPS_SMOKE and DNNSTEPS_FULL are both set; "
                            "set one of them.")  # fmt: skip
    return _flag("DNNSTEPS_SMOKE")


def strict() -> bool:
    """Whether a missed target raises (the full regression run, the tests) or only prints."""
    return _flag("DNNSTEPS_FULL") or _flag("DNNSTEPS_STRICT")


def backend() -> str:
    import keras

    return keras.backend.backend()


def repeatable(seed: int) -> None:
    """Seed Python, NumPy and Keras and (TensorFlow) switch op determinism on, and say so.
    Call it before compiling: on a GPU, Keras leaves XLA off only if determinism is on."""
    import keras

    keras.utils.set_random_seed(seed)
    switched = f"Repeatable: seed {seed} for Python, NumPy and Keras"
    if backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        line = (f"{switched}, and TensorFlow's op determinism for this session (on a GPU "
                "it costs some speed: Keras then trains without XLA).")  # fmt: skip
    elif backend() == "jax":
        line = (f"{switched}. JAX repeats a run exactly on a CPU; on a GPU, sums may "
                "differ in their last digits from run to run.")  # fmt: skip
    else:
        line = f"{switched}; this backend's kernels may differ slightly from run to run."
    print(line)


def accelerators() -> list[str]:
    """The names of the GPUs (or TPUs) the backend sees; empty on a CPU-only machine."""
    name = backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            details = tf.config.experimental.get_device_details
            gpus = tf.config.list_physical_devices("GPU")
            return [details(d).get("device_name", d.name) for d in gpus]
        if name == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if name == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no driver, no device: a CPU machine
        return []
    return []


def gpu_visible() -> bool:
    return bool(accelerators())


def device_name() -> str:
    found = accelerators()
    if found:
        return f"GPU: {found[0]} x{len(found)}"
    return f"CPU: {_cpu_model()}, {os.cpu_count()} cores"


def _cpu_model() -> str:
    """The CPU's name (Linux reads /proc/cpuinfo; elsewhere what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    import keras

    name = keras.backend.backend()
    found = dict(python=platform.python_version(), keras=keras.__version__, backend=name)
    if name in ("tensorflow", "jax", "torch"):
        found[name] = __import__(name).__version__
    return found


def use_all_accelerators():
    """A context to build and compile in that spreads training over several GPUs, if any."""
    import contextlib

    several = len(accelerators()) > 1
    if several and backend() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy().scope()
    if several and backend() == "jax":
        import keras

        keras.distribution.set_distribution(keras.distribution.DataParallel())
    return contextlib.nullcontext()
