# ---
# jupyter:
#   dnnsteps:
#     step: dnn5
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
# # DNN5: more kernels within budget
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN5_more_kernels_gap.ipynb)
#
# ## Overview
# Since DNN1 the output block has ended in a 6x6 convolution: one 6x6 kernel per class
# over the 10 last maps, 3,600 parameters. That kernel sees every position of every map
# with a weight of its own, so it is a fully connected layer in disguise, and in DNN4 it
# held about a third of all parameters. This step changes two things, and the second
# depends on the first:
#
# 1. the 6x6 convolution becomes **global average pooling** (GAP), which averages each
#    6x6 class map to one score and has no parameters at all;
# 2. the parameters go into **kernels** instead: every layer gets a few more, and the
#    last two 3x3 layers, where digits are assembled from parts, get the most.
#
# To be clear about the budget: this net does not keep DNN4's 11k parameters. It spends
# about 18k, like the course's fifth network (18.4k); the assignment at the end will
# have to come back under 15k. The course's fifth network reached **99.05%** after 20
# epochs; this step's target is the same accuracy within 10.
#
# A bigger net can fit its training digits more closely, so this notebook also reads
# the **train/test gap**: the distance between the accuracy on the digits the net
# trains on and on digits it has never seen.

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
import numpy as np
from dnnsteps import data, models, plots, receptive_field, results, review, train
from keras import layers

# %% tags=["parameters"]
# Parameters (papermill and the tests may override them).
STEP = "dnn5"  # the step's recipe: epochs, batch size, learning rate, targets
NOTEBOOK = "DNN5_more_kernels_gap"
SEED = 0  # one seed fixes Python, NumPy and TensorFlow randomness
EPOCHS = None  # None: the recipe's; DNNSTEPS_SMOKE=1 trains 2 epochs on 2,000 images

# %% [markdown]
# ## Global average pooling instead of a 6x6 kernel
# Both ways turn 10 maps of 6x6 into 10 class scores. The 6x6 convolution computes each
# score as a weighted sum of all 360 values (6 x 6 positions x 10 maps), with its own
# weight for each: 360 weights per class, 3,600 in all. Global average pooling takes
# the mean of each map on its own: map *k* becomes the score of class *k*. There is
# nothing to learn, so the work moves to the layers before it, which must now light up
# map *k* wherever they see evidence of digit *k*. Both still see the whole digit
# (receptive field 28). Keras counts the parameters of each:

# %%
class_maps = keras.ops.zeros((1, 6, 6, 10))
six_by_six = layers.Conv2D(10, 6, use_bias=False)
gap = layers.GlobalAveragePooling2D()
for name, layer in [("6x6 convolution", six_by_six), ("global average pooling", gap)]:
    out = layer(class_maps)
    shape = tuple(out.shape[1:])
    print(f"{name:>22}: 6x6x10 -> {shape}, {layer.count_params():,} parameters")

# %% [markdown]
# ## The model
# DNN4's skeleton with batch norm after every convolution but the last. The output block
# is now a 1x1 convolution from 32 channels to 10 class maps, then GAP and softmax. That
# 1x1 convolution is the last one, so no batch norm and no ReLU follow it: its maps are
# the raw class scores. In DNN4 the 1x1 had both, because the 6x6 kernel came after it.
# The widths grow from 8-16-8-16-16-16 to 10-20-10-20-**28-32**. Each comment gives the
# output size and the receptive field (RF).

# %% tags=["model"]
keras.utils.set_random_seed(SEED)  # the same initial weights on every run
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        # Convolution block 1: edges and gradients
        layers.Conv2D(10, 3, use_bias=False),  # 26x26x10, RF 3
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(20, 3, use_bias=False),  # 24x24x20, RF 5
        layers.BatchNormalization(),
        layers.ReLU(),
        # Transition block: halve the map, then merge 20 channels into 10
        layers.MaxPooling2D(2),  # 12x12x20, RF 6
        layers.Conv2D(10, 1, use_bias=False),  # 12x12x10, RF 6
        layers.BatchNormalization(),
        layers.ReLU(),
        # Convolution block 2: parts of digits, with the most kernels at the end
        layers.Conv2D(20, 3, use_bias=False),  # 10x10x20, RF 10
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(28, 3, use_bias=False),  # 8x8x28, RF 14
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(32, 3, use_bias=False),  # 6x6x32, RF 18
        layers.BatchNormalization(),
        layers.ReLU(),
        # Output block: 10 class maps, the mean of each, softmax
        layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
        layers.GlobalAveragePooling2D(),  # 10, RF 28
        layers.Softmax(),
    ],
    name=STEP,
)
model.summary()

# %% [markdown]
# ### Where the parameters went
# DNN4 beside this model, by kind of layer. The 6x6 kernel's 3,600 parameters are gone,
# but the 3x3 and 1x1 kernels gain 10,042 (from 7,272 to 17,314), so the total rises
# from 11,232 to 17,794.

# %%
# NBVAL_CHECK_OUTPUT
def by_kind(net):
    convs = [layer for layer in net.layers if isinstance(layer, layers.Conv2D)]
    bns = [layer for layer in net.layers if isinstance(layer, layers.BatchNormalization)]
    big = [c.count_params() for c in convs if c.kernel_size == (6, 6)]
    small = [c.count_params() for c in convs if c.kernel_size != (6, 6)]
    return {
        "3x3 and 1x1 kernels": sum(small),
        "6x6 output kernel": sum(big),
        "batch norm": sum(b.count_params() for b in bns),
        "total": net.count_params(),
    }


before, now = by_kind(models.build("dnn4")), by_kind(model)
print(f"{'':>20} {'DNN4':>7} {'DNN5':>7}")
for kind in now:
    print(f"{kind:>20} {before[kind]:>7,} {now[kind]:>7,}")

# %% [markdown]
# ### GAP is a mean, nothing more
# Take the 10 class maps that the last convolution makes for two digits (the net is
# still untrained, so the maps mean nothing yet) and compare Keras's
# `GlobalAveragePooling2D` with NumPy's mean over the height and width of each map.

# %%
(x_train, y_train), _ = data.load_mnist()
x = data.preprocess(x_train[:2])
maps = x
for layer in model.layers[:-2]:  # every layer up to the last convolution
    maps = layer(maps)
maps = np.asarray(maps)
pooled = np.asarray(layers.GlobalAveragePooling2D()(maps))
print("class maps", maps.shape, "-> scores", pooled.shape)
print("scores of the first digit:", np.round(pooled[0], 3))
same = np.allclose(pooled, maps.mean(axis=(1, 2)), atol=1e-6)
print("equal to the mean of each 6x6 map:", same)

# %% [markdown]
# The receptive field ends at 28 as before: GAP covers the whole 6x6 map just as the 6x6
# kernel did. The review no longer flags the output block.

# %%
# NBVAL_CHECK_OUTPUT
receptive_field.print_table(model)

# %% [markdown]
# ### Rules of thumb, checked
# The course's advice, checked layer by layer on this model.

# %%
# NBVAL_CHECK_OUTPUT
review.print_review(model)

# %% [markdown]
# ## Training
# The recipe is DNN4's: Adam, batches of 128, a constant learning rate, 10 epochs. After
# each epoch the net is scored on the 10,000 test images. If the session dies, run the
# cell again: training resumes after the last finished epoch.

# %%
run = train.fit(model, step=STEP, seed=SEED, epochs=EPOCHS)

# %%
plots.training_curves(run.history, title=NOTEBOOK);

# %% [markdown]
# ## The train/test gap
# The right-hand plot has two accuracy curves. "train" is measured on the 60,000 digits
# the net learns from, "validation" on the 10,000 test digits it never learns from.
# Their difference, train minus test, is the **gap**. A net that keeps improving on its
# own training digits while the test curve stalls is learning details of those digits
# that do not carry over to new ones: it is starting to overfit. Read the gap over the
# last epochs, not the first ones: Keras's training accuracy is an average over an
# epoch's batches, taken while the weights are still improving, so early on it can even
# sit below the test accuracy. In this run it does in the first two epochs: accuracy
# 0.9079 against val_accuracy 0.9752 in epoch 1, and 0.9828 against 0.9860 in epoch 2.
#
# As in the course, the test set doubles as the validation set: there is no third set
# of digits. So choosing the "best" epoch by its test accuracy lets the test set take
# part in a decision, and that best figure is optimistic. The number of epochs was
# fixed in advance, so the last epoch's score is the honest one. In this run the two
# coincide: the best test epoch is the last one, epoch 10, at 99.18% with a gap of
# +0.24 points, so choosing by the test set adds 0.00 points.

# %%
val = run.history.history["val_accuracy"]
train_acc = run.history.history["accuracy"]
best = int(np.argmax(val))
for label, e in [("best test epoch", best), ("last epoch", len(val) - 1)]:
    gap = 100 * (train_acc[e] - val[e])
    print(f"{label:>15} {e + 1:>2}: test {val[e]:.2%}, gap {gap:+.2f} points")
extra = 100 * (val[best] - val[-1])
print(f"choosing the best epoch by the test set adds {extra:.2f} points")

# %% [markdown]
# ## Evaluation
# `model.evaluate` on the test set, with the weights of the last epoch.

# %%
test = train.evaluate(run.model)
print(f"model.evaluate: loss {test['loss']:.4f}, accuracy {test['accuracy']:.2%}")
print(results.best_and_final(run.summary))

# %% [markdown]
# ### The class maps of the trained net
# The ten 6x6 maps for one test digit, before averaging, with each map's mean (its
# score before softmax) in the title. Each map is drawn on its own colour scale, red
# for its highest values, so read the scores in the titles to compare classes: which
# class scores highest, and does it match the label? Within a map, the red cells are
# the positions that speak most for that class.

# %%
x_test, y_test = data.test_set()
digit = x_test[:1]
trained_maps = digit
for layer in run.model.layers[:-2]:  # every layer up to the last convolution
    trained_maps = layer(trained_maps)
trained_maps = np.asarray(trained_maps)[0]
plots.images(
    [digit[0], *np.moveaxis(trained_maps, -1, 0)],
    [f"label {y_test[0]}", *(f"{k}: {trained_maps[..., k].mean():.2f}" for k in range(10))],
    cmap="RdBu_r",
);

# %% [markdown]
# ## Compared with DNN4
# Same seed, same data and the same recipe. The rows differ by the output block and the
# widths: the two changes of this step.

# %%
print(results.compare(run.summary, NOTEBOOK, previous="DNN4_batch_norm"))

# %% [markdown]
# The `params` column shows the budget this step spends: 17,794 against 11,232. On the
# honest figure, the `last` column, the wider net with GAP beats DNN4 by 0.13 points
# (99.18% against 99.05%), that is 13 more of the 10,000 test digits right, on one seed.
# On the `best test (epoch)` column the lead is only 0.05 points (99.18% at epoch 10
# against 99.13% at epoch 9), because DNN4's best epoch was not its last. The `gap`
# column (a larger gap means the net fits its training digits better than it
# generalises to new ones) halves, from +0.48 to +0.24 points: despite its extra
# parameters, this net's last-epoch training accuracy is lower than DNN4's (99.42%
# against 99.53%) while its test accuracy is higher.

# %% [markdown]
# ## What this run shows
# * Global average pooling replaces the 6x6 output kernel at no cost in parameters, and
#   the net still sees the whole digit.
# * The parameters go into kernels; the total rises from 11,232 to 17,794, about the
#   size of the course's fifth network (18.4k).
# * The last epoch scores 99.18% (`model.evaluate` agrees: loss 0.0299, accuracy
#   99.18%), above the course's 99.05%, so the step meets its target; but only in the
#   last epoch: epoch 8 reached 0.9899 and epoch 9 0.9891.
# * The test accuracy is bumpy on the way: 0.9860 after epoch 2, then down to 0.9783 at
#   epoch 3 and to 0.9810 at epoch 6, while the training accuracy rose in every epoch
#   but the ninth.
# * The gap at the last epoch is +0.24 points (train 99.42%, test 99.18%), half of
#   DNN4's +0.48: in this run the bigger net with GAP overfits less, not more.
# * For the first test digit, a 7, the class maps give class 7 a score of 12.35, far
#   ahead of the next best, class 2 at 0.45; class 6 scores lowest, at -10.67.
# * **Next (DNN6):** dropout, on the same net with the same parameters, against the gap
#   between training and test accuracy.
#
# ## Run record
# Seed, epochs, device and versions of the run whose outputs you see, and the step's
# target, checked.

# %%
record = results.finish(run, test, notebook=NOTEBOOK)
results.verdict(record)

# %% [markdown]
# ## Try it
# 1. Put the 6x6 kernel back: replace the output block with `layers.Conv2D(10, 1,
#    use_bias=False)`, `layers.BatchNormalization()`, `layers.ReLU()`,
#    `layers.Conv2D(10, 6, use_bias=False)`, `layers.Flatten()`, `layers.Softmax()`.
#    How many parameters does `model.summary()` report now, and what does
#    `review.print_review(model)` say?
# 2. Change the last 3x3 layer from 32 kernels to 16, then to 40 (still under 20k
#    parameters). Note the parameter count each time and compare the last-epoch test
#    accuracy and the gap.
# 3. Compute the gap for every epoch from `run.history.history["accuracy"]` and
#    `run.history.history["val_accuracy"]` and plot it. In which epoch does it turn
#    positive, and does it keep growing?
# 4. Train for 20 epochs (`EPOCHS = 20`), as the course did, and compare the last epoch
#    with its 99.05%. Does the gap grow with the extra epochs?
