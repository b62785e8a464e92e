# ---
# jupyter:
#   dnnsteps:
#     step: dnn8
#   jupytext:
#     notebook_metadata_filter: dnnsteps,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DNN8: the assignment, under 15k parameters
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN8_assignment.ipynb)
#
# ## Overview
# The course ends with an assignment: **at least 99.4% test accuracy, fewer than
# 15,000 parameters, within 20 epochs, no fully connected layer, no biases.** DNN7 has
# 17,794 parameters, so it does not qualify. This step is the course's "tuned" network:
# unlike the steps before it, it changes several things at once, each for a reason.
#
# 1. **Fewer kernels: 7,560 parameters.** 8 and 16 kernels before the max-pool, 8
#    after the 1x1 merge, 16 in each of the last three 3x3 layers.
# 2. **A lean first block.** The first convolution has no batch norm, and the second is
#    max-pooled *before* its batch norm and ReLU. ReLU and max-pooling commute (the
#    largest of four values is still the largest after ReLU), so the receptive fields
#    do not change; batch norm and ReLU work on a quarter of the values, on the 12x12
#    map instead of the 24x24 one. (The net is not exactly the same: batch norm now
#    normalises the pooled values.)
# 3. **Less dropout:** 5%, and only after the first two 3x3 convolutions of block 2
#    (on the 10x10 and 8x8 maps). A net this small has less to spare than DNN7's.
# 4. **Batches of 64** instead of 128: twice as many weight updates per epoch.
# 5. **A one-cycle schedule** (DNN7's comparison column, squeezed into 12 epochs): warm
#    up from 0.001 to 0.01 by epoch 4, anneal to the floor, 0.0001, at epoch 12, 3
#    epochs before the end, and stay there, so that the last 3 epochs measure a settled
#    net. The run lasts 15 epochs.
#
# The course's own eighth network reached 99.46% at epoch 11: one epoch of one run.
# Here the target is stricter: the test accuracy must **hold** at least 99.40% in
# **each of the last 3 epochs**, for **three seeds** (0, 1 and 2). A single good epoch
# can be luck; three epochs on three seeds are a result.

# %% [markdown]
# ## Setup
# One cell finds or installs the helper package `dnnsteps` and imports what this
# notebook uses. Offline, point the `MNIST_NPZ` environment variable at a copy of
# Keras's `mnist.npz`.

# %%
# Setup: find dnnsteps (installed, or this clone's src/), else install it, then import.
import importlib.util
import os
import sys

if importlib.util.find_spec("dnnsteps") is None and os.path.isdir("../src/dnnsteps"):
    sys.path.insert(0, os.path.abspath("../src"))  # a clone, not pip-installed
if importlib.util.find_spec("dnnsteps") is None:  # Colab: install from the repository
    SOURCE = os.environ.get("DNNSTEPS_SOURCE", "git+https://github.com/dnnsteps/dnnsteps")
    # %pip install -q {SOURCE}
    importlib.invalidate_caches()
if importlib.util.find_spec("dnnsteps") is None:
    raise SystemExit(
        "dnnsteps is not installed: open this notebook in a clone of the repository, "
        "or set DNNSTEPS_SOURCE to a copy of it (a folder or a git URL)."
    )

import keras
from dnnsteps import assignment, data, plots, receptive_field, results, review, seeds, train
from keras import layers

# %% tags=["parameters"]
# Parameters (papermill and the tests may override them).
STEP = "dnn8"  # the step's recipe: epochs, batch size, learning rate, targets
NOTEBOOK = "DNN8_assignment"
SEED = 0  # one seed fixes Python, NumPy and TensorFlow randomness
EPOCHS = None  # None: the recipe's; DNNSTEPS_SMOKE=1 trains 2 epochs on 2,000 images

# %% [markdown]
# ## Batch size
# One epoch shows the net every training image once. The batch size decides how many
# images each weight update averages over, and so how many updates an epoch makes.
# Smaller batches give more updates, each a little noisier; that noise is itself a mild
# regulariser.

# %%
for batch in (128, 64):
    print(f"batch {batch:>3}: {-(-60_000 // batch):>4} updates per epoch")

# %% [markdown]
# ## The model
# The model is a function of the seed, because this notebook trains it three times.

# %% tags=["model"]
def build_model(seed):
    """DNN8's layers, with the initial weights that ``seed`` gives."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            # Convolution block 1, lean: no batch norm on the 26x26 and 24x24 maps
            layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
            layers.ReLU(),
            layers.Conv2D(16, 3, use_bias=False),  # 24x24x16, RF 5
            # Transition block: pool first, then normalise the 12x12 map, merge
            layers.MaxPooling2D(2),  # 12x12x16, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
            layers.BatchNormalization(),
            layers.ReLU(),
            # Convolution block 2
            layers.Conv2D(16, 3, use_bias=False),  # 10x10x16, RF 10
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.05),
            layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.05),
            layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
            layers.BatchNormalization(),
            layers.ReLU(),
            # Output block: 1x1 to 10 channels, average each map, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10
            layers.GlobalAveragePooling2D(),  # 10
            layers.Softmax(),
        ],
        name=STEP,
    )


model = build_model(SEED)
model.summary()

# %%
# NBVAL_CHECK_OUTPUT
receptive_field.print_table(model)

# %%
# NBVAL_CHECK_OUTPUT
review.print_review(model)

# %% [markdown]
# ## Training (seed 0)

# %%
run = train.fit(model, step=STEP, seed=SEED, epochs=EPOCHS)

# %%
plots.training_curves(run.history, title=NOTEBOOK);

# %% [markdown]
# ## Evaluation

# %%
test = train.evaluate(run.model)
print(f"model.evaluate: loss {test['loss']:.4f}, accuracy {test['accuracy']:.2%}")
print(results.best_and_final(run.summary))

# %% [markdown]
# ## Compared with DNN7

# %%
print(results.compare(run.summary, NOTEBOOK, previous="DNN7_lr_schedule"))

# %% [markdown]
# ## The assignment's rules, checked
# The same check as `python -m dnnsteps check`. It walks every layer of the model,
# nested ones included.

# %%
rules = assignment.check(run.model, run.history)
print(assignment.format_table(rules))

# %% [markdown]
# ## Three seeds
# Seeds 1 and 2 train the same layers from other initial weights and another data order,
# each in its own run folder. The table applies the rule to every seed.

# %%
more = seeds.train_seeds(STEP, seeds=(1, 2), epochs=EPOCHS, build=build_model)
runs = [run.summary, *more]

# %%
print(seeds.table(runs))
plots.seed_curves(runs, target=0.994);

# %% [markdown]
# The course's figure for its eighth network was 99.46% at epoch 11. For each seed,
# the first epoch at which this net reached that figure:

# %%
for s in runs:
    first = next(
        (i + 1 for i, v in enumerate(s["val_accuracy_curve"]) if v >= 0.9946), None
    )
    print(f"seed {s['seed']}: {f'epoch {first}' if first else 'not reached'}")

# %%
seeds.record(runs, notebook=NOTEBOOK)
seeds.verdict(runs)

# %% [markdown]
# ## The digits it still gets wrong

# %%
x_test, y_test = data.test_set()
plots.confusion_matrix(run.model, x_test, y_test);

# %%
plots.misclassified(run.model, x_test, y_test);

# %% [markdown]
# ## What this run shows
# * **The assignment, met on seed 0:** 7,560 parameters, no fully connected layer, no
#   bias, 99.4% first reached at epoch 9; the last epoch's weights score 99.48% in
#   `model.evaluate`.
# * **The target holds.** In each of the last 3 epochs, on each of the three seeds, the
#   test accuracy is at least 99.40%; the lowest of those nine values is 99.45%
#   (seed 1). The course's 99.46% is reached at epoch 11 on seeds 0 and 2 and at
#   epoch 12 on seed 1, with fewer than half the course's 16.6k parameters.
# * **Against DNN7:** 7,560 parameters instead of 17,794, and a higher last epoch
#   (99.48% against 99.39%) in the same 15 epochs. The gap is positive again
#   (+0.14 points, DNN7: -0.15): 5% dropout after two convolutions regularises less
#   than DNN7's 10% after six. DNN8 changes several things at once, though, so this
#   run alone cannot single out dropout as the cause.
# * 52 of the 10,000 test digits are still misread. The most frequent confusion is a
#   9 read as a 4 (7 times); 2 read as 7, 5 as 3 and 7 as 1 come next (4 times each).
#   Many of them would make a person hesitate too: a 7 with a crossbar read as a 1, a
#   2 with a loop read as a 7, a 6 that does not close read as a 1.
# * From DNN1 to here: 69,408 parameters and 98.79% after 3 epochs, to 7,560 parameters
#   and 99.48% after 15.
#
# ## Run record

# %%
record = results.finish(run, test, notebook=NOTEBOOK)
results.verdict(record)

# %% [markdown]
# ## Try it
# 1. Your turn: open `CODE9_assignment.ipynb`, the assignment's starter. It trains a
#    weak model for 20 epochs and writes the submission folder; make it reach 99.4%.
# 2. Put batch norm back on the first two convolutions (the DNN7 way) in `build_model`.
#    Does the accuracy of the last 3 epochs change?
# 3. Train with batches of 128: `run128 = train.fit(build_model(SEED), step=STEP, seed=SEED, batch_size=128)`.
#    Does the rule still hold on seed 0? `print(seeds.table([run128.summary]))` applies it.
# 4. Remove both dropout layers from `build_model` and run the notebook again from the
#    model cell. How many of the three seeds still hold 99.40%?
