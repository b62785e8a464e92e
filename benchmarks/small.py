"""A record-small net: 5,800 parameters, trained on each seed in turn with a one-cycle
recipe and judged by DNN8's rule (99.40% in each of the last 3 epochs).

    python benchmarks/small.py                  # seeds 0-4, full MNIST (about 18 min on 2 cores)
    python benchmarks/small.py --seeds 5 6      # more seeds, appended to the record
    python benchmarks/small.py --smoke --out /tmp/small.json --no-readme   # a quick check

It writes ``results/small.json`` and the seeds table in ``docs/speed.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- small:start -->", "<!-- small:end -->"
EPOCHS, TAIL, PEAK, BATCH_SIZE = 20, 4, 0.01, 64  # DNN8's recipe of 2026-12-06


def small_net():
    """5,800 parameters: batch norm after every convolution but the last, 8 and 10
    kernels before the max-pool, then 12, 14 and 16 on the small maps, no 1x1 merge and
    no dropout (a net this small has no capacity to spare)."""
    import keras
    from keras import layers

    def conv_bn(filters):  # 3x3 convolution, batch norm, ReLU
        return [layers.Conv2D(filters, 3, use_bias=False), layers.BatchNormalization(),
                layers.ReLU()]  # fmt: skip

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
            *conv_bn(8),  # 26x26x8, RF 3
            *conv_bn(10),  # 24x24x10, RF 5
            layers.MaxPooling2D(2),  # 12x12x10, RF 6
            *conv_bn(12),  # 10x10x12, RF 10
            *conv_bn(14),  # 8x8x14, RF 14
            *conv_bn(16),  # 6x6x16, RF 18
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="small",
    )


def train_seed(seed: int, data, epochs: int) -> list[float]:
    """One seed, as DNN8's notebook trains its seeds: weights and batch order from ``seed``."""
    import keras

    from dnnsteps import schedules
    from dnnsteps.batches import Batches

    (x_train, y_train), test = data
    keras.utils.set_random_seed(seed)
    model = small_net()
    model.compile(
        optimizer=keras.optimizers.Adam(PEAK),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        Batches(x_train, y_train, batch_size=BATCH_SIZE, seed=seed),
        shuffle=False,
        epochs=epochs,
        validation_data=test,
        callbacks=[keras.callbacks.LearningRateScheduler(
            schedules.one_cycle(peak=PEAK, epochs=epochs, tail=TAIL))],
        verbose=2,
    )  # fmt: skip
    return [float(v) for v in history.history["val_accuracy"]]


def seeds_section(record: dict) -> str:
    """The seeds table for docs/speed.md: DNN8's rule applied to each seed."""
    from dnnsteps import results

    runs = {int(seed): val for seed, val in record["seeds"].items()}
    return "\n".join(
        [
            results.seeds_table(runs, "dnn8"),  # DNN8's rule: its target and last 3 epochs
            "",
            f"`benchmarks/small.py`: **{record['params']:,} parameters**, "
            f"{record['epochs']} epochs per seed, {record['mode']} MNIST, on "
            f"{record['device']}; Keras {record['versions']['keras']}.",
        ]
    )


def _layers(model) -> str:
    """The net in one line (layer kinds and sizes), to tell its records from another's."""
    sizes = ("filters", "kernel_size", "rate", "pool_size")
    return " ".join(
        type(layer).__name__ + "".join(f"/{layer.get_config()[k]}" for k in sizes
                                       if k in layer.get_config())
        for layer in model.layers
    )  # fmt: skip


def _text(path: Path, parser) -> str:
    """A file's text, or one clear line and exit code 2 when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        parser.error(f"cannot read {path}: {error}")


def _old_record(path: Path, parser) -> dict:
    """The record this script wrote before, to add seeds to; never another file."""
    if not path.exists():
        return {}
    try:
        old = json.loads(_text(path, parser))
    except json.JSONDecodeError:
        old = None
    if not isinstance(old, dict) or not isinstance(old.get("seeds"), dict):
        parser.error(f"{path} is not a record of this script; give another --out")
    return old


def main(argv=None) -> int:
    from dnnsteps import config, data, rules
    from dnnsteps.runfiles import atomic_write

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--smoke", action="store_true", help="2 epochs on a subset")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "small.json")
    p.add_argument("--readme", type=Path, default=ROOT / "docs" / "speed.md")
    p.add_argument("--no-readme", action="store_true")
    args = p.parse_args(argv)

    if not args.no_readme and START not in _text(args.readme, p):
        p.error(f"{args.readme} has no {START} ... {END} section to write the table in")
    old = _old_record(args.out, p)

    config.repeatable(args.seeds[0])  # op determinism and the seeds, for this process
    model = small_net()
    rules.print_review(model)
    mnist, epochs = data.mnist(smoke=args.smoke), 2 if args.smoke else EPOCHS
    same_kind = (old.get("epochs"), old.get("net")) == (epochs, _layers(model))
    runs = dict(old["seeds"]) if same_kind else {}  # more seeds of the same net and recipe
    for seed in args.seeds:
        started = time.perf_counter()
        runs[str(seed)] = train_seed(seed, mnist, epochs)
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": model.count_params(),
        "net": _layers(model),
        "epochs": epochs,
        "mode": "smoke" if args.smoke else "full",
        "device": config.device_name(),
        "versions": config.versions(),
        "seeds": dict(sorted(runs.items(), key=lambda item: int(item[0]))),
    }
    atomic_write(args.out, json.dumps(record, indent=2) + "\n")
    print(seeds_section(record))
    if not args.no_readme:
        head, rest = _text(args.readme, p).split(START, 1)
        tail = rest.split(END, 1)[1]
        atomic_write(args.readme, f"{head}{START}\n{seeds_section(record)}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
