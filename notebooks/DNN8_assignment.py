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
# 17,794 parameters, so it does not qualify. This step is our eighth network, built for
# the assignment: unlike the steps before it, it changes several things at once, each
# for a reason.
#
# 1. **Fewer parameters: 7,560.** 8 and 16 kernels before the max-pool, 8 after the
#    1x1 merge, then 16 in each of the last three 3x3 layers, which produce the small
#    10x10, 8x8 and 6x6 maps. Half the assignment's budget: the target is not in the
#    parameter count but in where the net spends it and how it trains (points 2-5).
# 2. **A lean first block.** The first convolution has no batch norm, and the second is
#    max-pooled *before* its batch norm and ReLU. ReLU and max-pooling commute (the
#    largest of four values is still the largest after ReLU), so pooling first loses
#    nothing; batch norm and ReLU work on a quarter of the values, on the 12x12
#    map instead of the 24x24 one. (The net is not exactly the same: batch norm now
#    normalises the pooled values.)
# 3. **Less dropout:** 5%, and only after the first two 3x3 convolutions of block 2
#    (on the 10x10 and 8x8 maps), where DNN7 had 10% after six convolutions. A net
#    this small has less capacity to spare.
# 4. **A one-cycle learning-rate schedule** instead of DNN7's decay: the rate climbs
#    from 0.001 to a peak of 0.01, then falls along a cosine to a floor of 0.0001,
#    which it reaches at epoch 10 and keeps to the end.
# 5. **15 epochs in batches of 128**, as DNN7 trained: the assignment allows 20 epochs,
#    but the cycle ends at epoch 10, and five more epochs at the floor (11 to 15) show
#    whether the accuracy holds.
#
# The course's own eighth network reached 99.46% at epoch 11, with 16.6k parameters:
# one epoch of one run. Here the target is stricter: the test accuracy must **hold** at
# least 99.40% in **each of the last 3 epochs**, for **five seeds** (0 to 4). A
# single good epoch can be luck; three epochs on five seeds are a result.

# %% [markdown]
# ## Setup
# One cell installs the helper package `dnnsteps` where it is missing and imports what
# this notebook uses. Offline, point the `MNIST_NPZ` environment variable at a copy of
# Keras's `mnist.npz`. In Colab, to keep your runs when the session dies, mount your
# Drive (`from google.colab import drive; drive.mount("/content/drive")`) and set
# `RUNS = "/content/drive/MyDrive/dnnsteps-runs"` in the next cell: a training run
# then resumes from Drive.

# %%
# Setup: install dnnsteps where it is missing (as in Colab), then import.
import importlib.util
import os

if importlib.util.find_spec("dnnsteps") is None:
    SOURCE = os.environ.get("DNNSTEPS_SOURCE", "git+https://github.com/dnnsteps/dnnsteps")
    # %pip install -q {SOURCE}
    importlib.invalidate_caches()  # so this session finds what pip just installed

import keras
import numpy as np
from dnnsteps import data, plots, receptive_field, results, rules
from dnnsteps.batches import Batches
from dnnsteps.config import repeatable
from dnnsteps.resume import resumable
from keras import layers

# %% tags=["parameters"]
SEED = 0  # fixes the initial weights and the order of the batches
RUNS = "runs"  # where each training run is saved; in Colab, a Drive folder keeps runs
SEEDS = (0, 1, 2, 3, 4)  # the seeds the target must hold on

# %%
repeatable(SEED)  # the seeds, and deterministic kernels, for this session (see DNN1)

# %% [markdown]
# ## The data
# MNIST's 60,000 training digits and 10,000 test digits, as raw pixels from 0 to 255,
# shaped (images, 28, 28, 1). The model's first layer standardises them.

# %%
(x_train, y_train), (x_test, y_test) = data.mnist()
print("train:", x_train.shape, " test:", x_test.shape)

# %% [markdown]
# ## The recipe
# How this step trains. The schedule comes from `dnnsteps.schedules`: `one_cycle` returns
# a function of the epoch, like DNN7's `SCHEDULE`. Its peak is `LEARNING_RATE`; `tail=5`
# ends the cycle 5 epochs before the run does.

# %% tags=["recipe"]
from dnnsteps import schedules

EPOCHS = 15
BATCH_SIZE = 128
LEARNING_RATE = 0.01  # the peak of the cycle
SCHEDULE = schedules.one_cycle(peak=LEARNING_RATE, epochs=EPOCHS, tail=5)

# %% [markdown]
# ## Batch size
# One epoch shows the net every training image once. The batch size decides how many
# images each weight update averages over, and so how many updates an epoch makes.
# Smaller batches give more updates, each a little noisier; that noise is itself a mild
# regulariser. But every update is a training step, and each step has a cost of its
# own besides the images it carries, so an epoch in batches of 64 takes longer than one
# in batches of 128 (exercise 3 lets you time it). DNN8 keeps 128: with a peak rate of
# 0.01, 469 updates per epoch are enough.

# %%
for batch_size in (64, BATCH_SIZE):
    updates = int(np.ceil(len(x_train) / batch_size))
    print(f"batch size {batch_size:>3}: {updates:>4} weight updates per epoch")

# %% [markdown]
# ## The one-cycle schedule
# The rate of every epoch (counted from 1, as the training log counts). It starts at a
# tenth of the peak and climbs in a straight line to the peak at epoch 3 (about the first
# quarter of the cycle): a **warm-up**, so that the first updates, made while the weights
# are still random, stay small. Then it falls along a cosine to a hundredth of the peak. The cycle is
# squeezed into the first 10 epochs: the rate reaches its floor at epoch 10 and stays
# there through epoch 15, so the last epochs, those the target reads, measure a settled
# net rather than one still changing.
#
# Compared with DNN7's decay, one-cycle peaks more than three times higher (0.01 against
# 0.003) and ends more than five times lower (0.0001 against 0.00055).

# %% tags=["nbval-check-output"]
for epoch in range(EPOCHS):
    print(f"epoch {epoch + 1:>2}: {SCHEDULE(epoch):.6f}")

# %% [markdown]
# ## The model
# The model is a function of the seed, because this notebook trains it five times.

# %% tags=["model"]
def build_model(seed):
    """DNN8's layers, with the initial weights that ``seed`` gives."""
    keras.utils.set_random_seed(seed)  # the initial weights this seed gives
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
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
            # Convolution block 2: parts of digits
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
            # Output block: 10 class maps, the mean of each, softmax
            layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
            layers.GlobalAveragePooling2D(),  # 10, RF 28
            layers.Softmax(),
        ],
        name="dnn8",
    )


model = build_model(SEED)
model.summary()

# %% tags=["nbval-check-output"]
receptive_field.print_table(model)

# %% tags=["nbval-check-output"]
rules.print_review(model)

# %% [markdown]
# ## Training (seed 0)
# The compile and fit of DNN7, with this step's recipe. `resumable` saves every epoch in
# a run folder under `RUNS`, so running this cell again resumes after the last finished
# epoch, and a finished run loads instead of training again.

# %%
train = Batches(x_train, y_train, batch_size=BATCH_SIZE, seed=SEED)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(
    train,
    epochs=EPOCHS,
    shuffle=False,  # train shuffles, from SEED
    validation_data=(x_test, y_test),
    callbacks=[
        keras.callbacks.LearningRateScheduler(SCHEDULE),
        resumable(RUNS, data=train),
    ],
    verbose=2,
)

# %%
plots.training_curves(history);

# %% [markdown]
# ## Evaluation

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"model.evaluate: loss {test_loss:.4f}, accuracy {test_accuracy:.2%}")
print(results.best_and_final(history))

# %% [markdown]
# ## Compared with DNN7
# DNN7 trained 17,794 parameters for 15 epochs; this run trains 7,560 for 15 as well,
# with all the changes listed in the overview. The comparison shows where DNN8 stands,
# not which change did what.

# %%
print(results.compare(history, "DNN8_assignment", previous="DNN7_lr_schedule"))

# %% [markdown]
# ## The assignment's rules, checked
# Every rule of the assignment, on this model and this run: the parameters, fully
# connected layers and biases, counted in every layer (nested ones included), and the
# test accuracy of the first 20 epochs (this run trains 15). CODE9 runs the same check
# on your model.

# %%
rules.print_check(model, history)

# %% [markdown]
# ## Five seeds
# The seed fixes the initial weights and the order of the batches. Seeds 1 to 4 train
# the same layers with the same recipe from other initial weights and other orders of
# the batches, each in a run folder of its own; the loop skips the seed trained above.
# With `verbose=0` there is no log line per epoch: the cell prints one line per seed
# when that seed's run is done.

# %%
val_by_seed = {SEED: history.history["val_accuracy"]}
for seed in SEEDS:
    if seed in val_by_seed:
        continue  # trained above
    other = build_model(seed)
    train = Batches(x_train, y_train, batch_size=BATCH_SIZE, seed=seed)
    other.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    h = other.fit(
        train,
        epochs=EPOCHS,
        shuffle=False,  # train shuffles, from seed
        validation_data=(x_test, y_test),
        callbacks=[
            keras.callbacks.LearningRateScheduler(SCHEDULE),
            resumable(RUNS, data=train),
        ],
        verbose=0,
    )
    val_by_seed[seed] = h.history["val_accuracy"]
    print(f"seed {seed}: {results.best_and_final(h)}")

# %% [markdown]
# The table applies the rule to every seed: the test accuracy of each of the last 3
# epochs, and the lowest of them. The figure draws every seed's curve against the
# 99.40% line.

# %%
print(results.seeds_table(val_by_seed, "dnn8"))
plots.seed_curves(val_by_seed, target=0.994);

# %% [markdown]
# The course's figure for its eighth network was 99.46% at epoch 11. For each seed,
# the first epoch at which this net reached that figure (as Keras prints it):

# %%
for seed, val in val_by_seed.items():
    first = results.first_epoch_at(val, 0.9946)  # as Keras prints them, 4 decimals
    print(f"seed {seed}: " + (f"epoch {first}" if first else "not reached"))

# %% [markdown]
# ## The digits it still gets wrong
# Seed 0's model on the test digits: the confusion matrix counts, for every true digit
# (row), what the model read (column); the grid shows some of the misread digits.

# %%
plots.confusion_matrix(model, x_test, y_test);

# %%
plots.misclassified(model, x_test, y_test);

# %% [markdown]
# ## What this run shows
# * **The assignment, met on seed 0:** 7,560 parameters, no fully connected layer, no
#   bias, 99.4% first reached at epoch 8, while the rate was still falling; the last
#   epoch's weights score 99.53% in `model.evaluate`.
# * **The target holds, narrowly.** In each of the last 3 epochs, on each of the five
#   seeds, the test accuracy is at least 99.40%; the lowest of those fifteen values is
#   99.41% (seed 1, epoch 14): one test image above the line.
# * Seeds 0 and 3 reach the course's 99.46% at epoch 9, before the course's epoch 11;
#   seed 2 only at its last epoch. Seeds 1 and 4 never do: their best epochs are 99.44%
#   and 99.45%.
# * **Against DNN7:** 7,560 parameters instead of 17,794, the same 15 epochs, and a
#   higher last epoch, 99.53% against 99.35%. DNN8 changes several things at once,
#   though, so this run alone cannot say what each change did.
# * 47 of the 10,000 test digits are still misread. The 9 is misread most often (9
#   times), and the most frequent confusion is a 9 read as a 4 (7 times), then a 5 read
#   as a 3 (4 times), then three confusions of 3 each: 6 read as 0, 7 read as 1, and 1
#   read as 3. Several of the misread digits in the grid would make a person hesitate
#   too.
# * From DNN1 to here: 69,408 parameters and 98.57% after 3 epochs, to 7,560
#   parameters and 99.53% after 15.
#
# ## Run record
# The record keeps every seed's curve; the verdict applies the target to each seed.

# %%
results.record(
    "DNN8_assignment", model, history, test_accuracy, test_loss, seeds=val_by_seed
)
for seed, val in val_by_seed.items():
    print(f"seed {seed}:", end=" ")
    met = results.verdict("dnn8", {"val_accuracy": val})

# %% [markdown]
# ## Try it
# 1. Your turn: open `CODE9_assignment.ipynb`, the assignment's starter. It trains a
#    weak model for 20 epochs and writes the folder you hand in; make it reach 99.4%.
# 2. Put batch norm back on the first two convolutions (the DNN7 way) in `build_model`.
#    Does the test accuracy of the last 3 epochs change?
# 3. Set `BATCH_SIZE = 64` in the recipe cell and run the notebook again from there.
#    Does the target still hold on all five seeds? How much longer does an epoch take?
# 4. Remove both dropout layers from `build_model` and run the notebook again from the
#    model cell. How many of the five seeds still hold 99.40%?
