"""Where a model's training time goes: a TensorFlow profile, summed by layer type.

The benchmark says how fast each model trains; this says why. It profiles a few
training steps of one model and prints the compute time of its ops grouped by
layer type (Conv2D, BatchNormalization, Dropout, ...) and by pass (forward /
backward).

    python benchmarks/profile_ops.py dnn8
    python benchmarks/profile_ops.py keras_example --steps 40
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def build(name: str, seed: int):
    import keras

    from dnnsteps import models

    if name == "keras_example":
        from bench import keras_example_convnet

        keras.utils.set_random_seed(seed)
        return keras_example_convnet(), 128
    return models.build(name, seed=seed), models.RECIPES[name].batch_size


def layer_kind(op_name: str, layer_types: dict) -> tuple[str, str] | None:
    """('forward' | 'backward', layer type) of a traced op, or None for other work.

    Op names look like ``StatefulPartitionedCall/gradient_tape/dnn8_1/c2_bn_1/...``:
    the scope after the model's is the layer's name, sometimes with a ``_N`` suffix.
    """
    if "StatefulPartitionedCall/" not in op_name:
        return None
    path = op_name.split("StatefulPartitionedCall/")[-1]
    backward = path.startswith("gradient_tape/")
    parts = path.removeprefix("gradient_tape/").split("/")
    if len(parts) < 3:  # optimizer, loss and metric bookkeeping
        return None
    scope = parts[1]
    for name in (scope, re.sub(r"_\d+$", "", scope)):
        if name in layer_types:
            return ("backward" if backward else "forward", layer_types[name])
    return None


def profile(name: str, steps: int, seed: int) -> collections.Counter:
    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from dnnsteps import data

    model, batch = build(name, seed)
    (x, y), _ = data.mnist(smoke=False)
    x, y = x[: batch * steps], keras.utils.to_categorical(y[: batch * steps], 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[: batch * 5], y[: batch * 5], batch_size=batch, verbose=0)  # warm up
    with tempfile.TemporaryDirectory() as log_dir:
        tf.profiler.experimental.start(log_dir)
        model.fit(x, y, batch_size=batch, verbose=0)
        tf.profiler.experimental.stop()
        trace = next(Path(log_dir).rglob("*.xplane.pb"))
        space = xplane_pb2.XSpace()
        space.ParseFromString(trace.read_bytes())
    layer_types = {layer.name: type(layer).__name__ for layer in model.layers}
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                kind = layer_kind(names.get(event.metadata_id, ""), layer_types)
                if kind:
                    totals[kind] += event.duration_ps / 1e9  # milliseconds
    return totals


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a dnnsteps model name, or keras_example")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1")
    totals = profile(args.model, args.steps, args.seed)
    whole = sum(totals.values()) or 1.0
    print(f"{args.model}: compute time of {args.steps} training steps, by layer type")
    for (direction, kind), ms in totals.most_common():
        print(f"  {direction:8s} {kind:22s} {ms:9.1f} ms  {ms / whole:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
