"""Speed benchmark: the Keras example convnet vs dnn8, on one machine.

Each model trains in its own process (so peak memory is its own) with the
notebooks' plain ``model.fit``, until its target or 20 epochs, and the script records
time to target, seconds per epoch, images per second, parameters,
multiply-adds per image, peak memory and the device. It writes
``results/bench.json`` and the README's benchmark table.

    python benchmarks/bench.py                # full run (a few minutes on a 2-core CPU)
    python benchmarks/bench.py --smoke --out /tmp/bench.json --no-readme   # a quick check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_EPOCHS = 20
BENCH_START = "<!-- bench:start -->"
BENCH_END = "<!-- bench:end -->"

# name -> (what it is, target accuracy)
MODELS = {
    "keras_example": ("Keras example 'Simple MNIST convnet' (Dense head, biases)", 0.992),
    "dnn8": ("dnn8: the assignment step (no Dense layer, no biases)", 0.994),
}


def keras_example_convnet():
    """keras.io/examples/vision/mnist_convnet: Conv32-Pool-Conv64-Pool-Flatten-Dropout-Dense."""
    import keras

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="keras_example",
    )


class StopAtTarget:
    """Keras callback factory: stop once validation accuracy reaches ``target``, and
    keep the seconds each epoch took."""

    def __new__(cls, target: float):
        import keras

        from dnnsteps.results import as_printed

        class _Stop(keras.callbacks.Callback):
            seconds: list = []

            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.started)
                if as_printed((logs or {}).get("val_accuracy", 0.0)) >= target:
                    self.model.stop_training = True

        return _Stop()


def peak_memory_mb() -> dict:
    """Peak resident memory of this process, and of the GPU where one is used (the
    host's only where ``resource`` exists: not on Windows)."""
    peak = {}
    try:
        import resource  # POSIX only, so imported here and not at the top

        peak["host_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
    except ImportError:
        pass
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            info = tf.config.experimental.get_memory_info("GPU:0")
            peak["gpu_peak_mb"] = round(info["peak"] / 2**20, 1)
    return peak


def run_one(name: str, seed: int, smoke: bool, max_epochs: int) -> dict:
    """Train one model in this process, the way the notebooks do, and measure it."""
    import keras

    from dnnsteps import config, data, models, receptive_field
    from dnnsteps.batches import Batches
    from dnnsteps.results import first_epoch_at

    what, target = MODELS[name]
    config.repeatable(seed)
    if name == "keras_example":
        keras.utils.set_random_seed(seed)
        model, recipe = keras_example_convnet(), models.Recipe(epochs=max_epochs)
    else:
        model, recipe = models.build(name, seed=seed), models.RECIPES[name]
    (x_train, y_train), (x_test, y_test) = data.mnist(smoke=smoke)
    if name == "keras_example":  # as keras.io feeds it: pixels scaled to [0, 1]
        x_train, x_test = x_train / 255, x_test / 255
    model.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop, schedule = StopAtTarget(target), recipe.schedule
    callbacks = [keras.callbacks.LearningRateScheduler(schedule)] if schedule else []
    callbacks.append(stop)
    if name == "keras_example":  # Keras's own batches and shuffle, as keras.io trains it
        train = dict(x=x_train, y=y_train, batch_size=recipe.batch_size)
    else:  # as the notebooks train: the order of the batches from the seed and the epoch
        batches = Batches(x_train, y_train, batch_size=recipe.batch_size, seed=seed)
        train = dict(x=batches, shuffle=False)
    history = model.fit(
        **train,
        epochs=1 if smoke else min(recipe.epochs, max_epochs),
        validation_data=(x_test, y_test),
        callbacks=callbacks,
        verbose=2,
    )
    val, seconds = history.history["val_accuracy"], stop.seconds
    first = first_epoch_at(val, target)
    per_epoch = sum(seconds) / len(seconds)
    return {
        "model": name,
        "what": what,
        "target_accuracy": target,
        "params": model.count_params(),
        "macs_per_image": receptive_field.macs_per_image(model),
        "epochs_run": len(val),
        "first_epoch_at_target": first,
        "time_to_target_s": round(sum(seconds[:first]), 1) if first else None,
        "best_val_accuracy": max(val),
        "val_accuracy_curve": val,
        "seconds_per_epoch": round(per_epoch, 2),
        "images_per_second": round(len(x_train) / per_epoch, 1),
        "device": config.device_name(),
        "versions": config.versions(),
        "seed": seed,
        "mode": "smoke" if smoke else "full",
        **peak_memory_mb(),
    }


def table(records: list[dict]) -> str:
    """The README's benchmark table."""
    header = [
        "model",
        "params",
        "MACs/image",
        "target",
        "time to target",
        "epochs to target",
        "s/epoch",
        "images/s",
        "peak memory",
    ]
    rows = []
    for r in records:
        seconds = r["time_to_target_s"]
        to_target = f"{seconds:.0f} s" if seconds is not None else "not reached"
        host = r.get("host_peak_rss_mb")
        memory = f"{host:,.0f} MB" if host is not None else "-"
        if "gpu_peak_mb" in r:
            memory += f" (GPU {r['gpu_peak_mb']:,.0f} MB)"
        rows.append(
            [
                r["what"],
                f"{r['params']:,}",
                f"{r['macs_per_image']:,}",
                f"{r['target_accuracy']:.1%}",
                to_target,
                f"{r['first_epoch_at_target'] or '-'} of {r['epochs_run']}",
                f"{r['seconds_per_epoch']:.1f}",
                f"{r['images_per_second']:,.0f}",
                memory,
            ]
        )
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    devices = sorted({r["device"] for r in records})
    versions = records[0]["versions"]
    lines += [
        "",
        f"One run of `python benchmarks/bench.py`, seed {records[0]['seed']}, on "
        f"{', '.join(devices)}; TensorFlow {versions.get('tensorflow', '-')}, "
        f"Keras {versions['keras']}. Time to target counts training and the "
        "per-epoch test-set evaluation, not start-up.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=MAX_EPOCHS)
    p.add_argument(
        "--smoke", action="store_true", help="one epoch on a subset: checks the script"
    )
    p.add_argument("--out", type=Path, default=ROOT / "results" / "bench.json")
    p.add_argument("--readme", type=Path, default=ROOT / "docs" / "speed.md")
    p.add_argument("--no-readme", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)  # child process: train one model
    args = p.parse_args(argv)
    if args.max_epochs < 1:
        p.error("--max-epochs must be at least 1")

    if args.one:
        record = run_one(args.one, args.seed, args.smoke, args.max_epochs)
        print("BENCH " + json.dumps(record), flush=True)
        return 0

    from dnnsteps.runfiles import atomic_write

    records = []
    for name in args.models:
        print(f"== {name}", flush=True)
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--seed",
            str(args.seed),
            "--max-epochs",
            str(args.max_epochs),
        ] + (["--smoke"] if args.smoke else [])
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
        print(
            "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("BENCH "))
        )
        if proc.returncode or not lines:
            raise SystemExit(f"benchmark of {name} failed (exit code {proc.returncode})")
        records.append(json.loads(lines[-1][len("BENCH ") :]))
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(result, indent=2) + "\n")
    print(table(records))
    print(f"wrote {args.out}")
    if not args.no_readme:
        head, rest = args.readme.read_text().split(BENCH_START, 1)
        tail = rest.split(BENCH_END, 1)[1]
        section = f"{BENCH_START}\n{table(records)}\n{BENCH_END}"
        atomic_write(args.readme, head + section + tail)
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
