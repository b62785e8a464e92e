# ---
# jupyter:
#   dnnsteps:
#     step: dnn1
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
# # DNN1: a first all-convolutional network
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN1_first_all_conv_net.ipynb)
#
# ## Overview
# Eight notebooks build one MNIST classifier step by step, and each step changes one
# thing. This first one sets up the skeleton that all the others keep:
#
# * two **3x3 convolutions** that find edges and gradients,
# * a **transition block**: a 2x2 max-pool that halves the map, then a **1x1
#   convolution** that merges 32 channels into 16,
# * three more 3x3 convolutions that combine edges into parts of digits,
# * an **output block** made of convolutions and a softmax: no fully connected layer
#   anywhere, and no biases.
#
# On the way you will look at the data, normalise it, see what a kernel does to a
# digit, work out output sizes and the receptive field by hand, count what a fully
# connected head would cost, and see what softmax and the loss compute. The course's
# first network reached **98.28%** validation accuracy with about 68k parameters; that
# is this step's target.

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
from dnnsteps import data, plots, receptive_field, results, review, train
from keras import layers

# %% tags=["parameters"]
# Parameters (papermill and the tests may override them).
STEP = "dnn1"  # the step's recipe: epochs, batch size, learning rate, targets
NOTEBOOK = "DNN1_first_all_conv_net"
SEED = 0  # one seed fixes Python, NumPy and TensorFlow randomness
EPOCHS = None  # None: the recipe's; DNNSTEPS_SMOKE=1 trains 2 epochs on 2,000 images

# %% [markdown]
# ## Look at the data
# MNIST holds 70,000 handwritten digits, 28x28 pixels, one grey channel: 60,000 to
# train on and 10,000 to test on. Always look at the raw arrays before you train.

# %%
(x_train, y_train), (x_test, y_test) = data.load_mnist()
print("train:", x_train.shape, x_train.dtype, " test:", x_test.shape)
print("pixel values from", x_train.min(), "to", x_train.max())
print("images per class:", np.bincount(y_train))
plots.images(x_train[:10], [f"label {y}" for y in y_train[:10]]);

# %% [markdown]
# ### Input normalisation
# The pixels are integers from 0 to 255. The network trains better on small floats
# centred near zero, so `data.preprocess` divides every image by 255 and then
# **standardises** it: it subtracts MNIST's mean pixel value (0.1307) and divides by
# its standard deviation (0.3081). The empty background becomes -0.4 and full ink 2.8,
# and the mean over these 1,000 images is -0.008, close to 0. A channel axis is added
# too, because a convolution expects height x width x channels.

# %%
x = data.preprocess(x_train[:1000])
print(x.shape, x.dtype, f"min {x.min():.1f}, max {x.max():.1f}, mean {x.mean():.3f}")

# %% [markdown]
# ## What a kernel does
# A 3x3 kernel is nine weights. Sliding it over the image and summing the products at
# every position gives a new map: a **feature map**. Hand-made kernels show the idea:
# a blur averages neighbours, a Sobel kernel responds to a change of brightness in one
# direction (here: vertical edges, then horizontal ones). A trained network learns its
# own kernels; DNN2 draws its first layer's and finds edge detectors close to these
# two Sobel kernels among them.

# %%
blur = np.full((3, 3), 1 / 9)
sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype="float32")
kernels = np.stack([blur, sobel_x, sobel_x.T], axis=-1)[:, :, None, :]  # (3, 3, 1, 3)
maps = keras.ops.conv(x[:1], kernels.astype("float32"), padding="valid")[0]
plots.images(
    [x[0], *np.moveaxis(np.asarray(maps), -1, 0)],
    ["digit 28x28", "blur 26x26", "vertical edges", "horizontal edges"],
    cmap="RdBu_r",
);

# %% [markdown]
# ## Output sizes and padding
# A kernel of size *k* slides over an *n*-pixel side in `n - k + 1` positions. With
# **valid** padding (no padding, the default) every 3x3 layer shrinks the map by 2
# pixels: 28 -> 26 -> 24. With **same** padding the border is filled with zeros and the
# size stays. In general, with padding *p* and stride *s*:
# `out = floor((n + 2p - k) / s) + 1`. These notebooks use valid padding: the shrinking
# is what lets the last layers cover the whole digit.

# %%
probe = keras.ops.zeros((1, 28, 28, 1))
for padding in ("valid", "same"):
    out = layers.Conv2D(8, 3, padding=padding)(probe)
    print(f"3x3, {padding:>5} padding: 28x28 -> {out.shape[1]}x{out.shape[2]}")
print(
    "2x2 max-pool:       24x24 ->",
    layers.MaxPooling2D(2)(keras.ops.zeros((1, 24, 24, 8))).shape[1:3],
)

# %% [markdown]
# ## The model
# Every layer is in the cell below: edit it and run the notebook again to try your own
# version (a changed model trains in a run folder of its own). Each comment gives the
# output size and the **receptive field** (RF): how many input pixels, per side, one
# output pixel can see. The ReLU after each convolution but the last passes positive
# values and sets negative ones to zero. Without it, a stack of convolutions would collapse into
# a single linear filter, however deep.

# %% tags=["model"]
keras.utils.set_random_seed(SEED)  # the same initial weights on every run
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        # Convolution block 1: edges and gradients
        layers.Conv2D(16, 3, use_bias=False),  # 26x26x16, RF 3
        layers.ReLU(),
        layers.Conv2D(32, 3, use_bias=False),  # 24x24x32, RF 5
        layers.ReLU(),
        # Transition block: halve the map, then merge 32 channels into 16
        layers.MaxPooling2D(2),  # 12x12x32, RF 6
        layers.Conv2D(16, 1, use_bias=False),  # 12x12x16, RF 6
        layers.ReLU(),
        # Convolution block 2: parts of digits
        layers.Conv2D(32, 3, use_bias=False),  # 10x10x32, RF 10
        layers.ReLU(),
        layers.Conv2D(64, 3, use_bias=False),  # 8x8x64, RF 14
        layers.ReLU(),
        layers.Conv2D(64, 3, use_bias=False),  # 6x6x64, RF 18
        layers.ReLU(),
        # Output block: 10 channels, then one 6x6 kernel per class, then softmax
        layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
        layers.ReLU(),
        layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
        layers.Flatten(),  # 10
        layers.Softmax(),
    ],
    name=STEP,
)
model.summary()

# %% [markdown]
# ## The receptive field, by hand
# Two numbers per layer: the receptive field *r* and the **jump** *j*, the distance in
# input pixels between two neighbouring outputs. A layer with kernel *k* and stride *s*
# gives `r_out = r_in + (k - 1) * j_in` and `j_out = j_in * s`. The input starts at
# r = 1, j = 1. In the course's notation (input | kernel | output, RF):
#
# | layer | input | kernel | output | r | j |
# | --- | --- | --- | --- | --- | --- |
# | conv 3x3 | 28x28x1 | (3x3x1)x16 | 26x26x16 | 1 + 2·1 = 3 | 1 |
# | conv 3x3 | 26x26x16 | (3x3x16)x32 | 24x24x32 | 3 + 2·1 = 5 | 1 |
# | max-pool 2x2 | 24x24x32 | 2x2, stride 2 | 12x12x32 | 5 + 1·1 = 6 | 2 |
# | conv 1x1 | 12x12x32 | (1x1x32)x16 | 12x12x16 | 6 + 0 = 6 | 2 |
# | conv 3x3 | 12x12x16 | (3x3x16)x32 | 10x10x32 | 6 + 2·2 = 10 | 2 |
# | conv 3x3 | 10x10x32 | (3x3x32)x64 | 8x8x64 | 10 + 2·2 = 14 | 2 |
# | conv 3x3 | 8x8x64 | (3x3x64)x64 | 6x6x64 | 14 + 2·2 = 18 | 2 |
#
# After the max-pool every step of a 3x3 kernel moves two input pixels, so each 3x3
# layer adds 4 to the receptive field instead of 2. The 1x1 convolution adds nothing:
# it only mixes channels. The course's handout takes a shortcut here: it doubles the
# receptive field at a max-pool (11x11 becomes 22x22) and then adds 2 per 3x3 layer.
# The formula gives 6 after this pool, not the shortcut's 10, but every later 3x3
# layer adds 4 instead of 2: three 3x3 layers on, the formula gives 18 where the
# shortcut would give 16.
# `receptive_field.print_table` applies the formula to every layer of the model and
# notes where the shortcut would say otherwise; check it against the table above.

# %%
# NBVAL_CHECK_OUTPUT
receptive_field.print_table(model)

# %% [markdown]
# ## Why there is no fully connected layer
# The usual way to finish a classifier is to flatten the last maps and connect every
# value to every class with a `Dense` layer. That layer needs one weight per value and
# class, and it throws away where in the image a feature was found. Compare what it
# would cost at three points of this network with what our output block costs:

# %%
for h, w, c in [(24, 24, 32), (12, 12, 16), (6, 6, 64)]:
    print(f"Flatten {h}x{w}x{c} -> Dense(10): {h * w * c * 10:>7,} weights")
print(
    f"our output block (1x1 to 10 channels, then a 6x6 kernel per class): {64 * 10 + 6 * 6 * 10 * 10:,}"
)

# %% [markdown]
# Our 6x6 kernel still covers the whole 6x6 map, so it behaves much like a fully
# connected layer in disguise: 3,600 parameters to look at 10 small maps. DNN5 replaces
# it with something that costs nothing.
#
# ## Softmax and the loss
# The last convolution gives 10 raw scores, one per class. **Softmax** turns them into
# positive numbers that add up to 1: `exp(score) / sum(exp(scores))`. They look like
# probabilities and are usually read as confidences, but they are only
# *probability-like*: scale the scores and the "confidence" changes, while the ranking
# does not. The loss, **categorical cross-entropy**, is the negative log of the value
# softmax gives the true class: near 0 when the net is sure and right, large when it is
# sure and wrong.

# %%
scores = np.array([[2.0, 1.0, 0.1]])
for scale in (1, 3):
    p = np.asarray(keras.ops.softmax(scale * scores))[0]
    print(
        f"scores x{scale}: softmax {np.round(p, 3)}, loss if class 0 is true: {-np.log(p[0]):.3f}"
    )

# %% [markdown]
# ### Rules of thumb, checked
# The course's advice, checked layer by layer on this model.

# %%
# NBVAL_CHECK_OUTPUT
review.print_review(model)

# %% [markdown]
# ## Training
# Adam with the step's recipe, one line per epoch. After each epoch the net is scored on
# the 10,000 test images: the course uses the test set as its validation set, and so do
# we. If the session dies, run the cell again: training resumes after the last finished
# epoch, and a finished run is loaded instead of trained again.

# %%
run = train.fit(model, step=STEP, seed=SEED, epochs=EPOCHS)

# %%
plots.training_curves(run.history, title=NOTEBOOK);

# %% [markdown]
# ## Evaluation
# `model.evaluate` on the test set, with the weights of the last epoch. Because the same
# images picked the best epoch, the best epoch's accuracy is a little optimistic; the
# last epoch's is the number to quote.

# %%
test = train.evaluate(run.model)
print(f"model.evaluate: loss {test['loss']:.4f}, accuracy {test['accuracy']:.2%}")
print(results.best_and_final(run.summary))

# %% [markdown]
# ## What this run shows
# * A plain stack of convolutions, with no fully connected layer, reads digits after
#   one epoch: 98.12% test accuracy after epoch 1, 98.50% after epoch 2 (already past
#   the course's 98.28%), and 98.79% after epoch 3, the best and the last epoch.
# * The training accuracy, 98.58%, is 0.21 points *below* the test accuracy. Keras
#   averages it over the epoch's batches while the weights are still improving; the test
#   accuracy uses the weights at the end of the epoch, so a small negative gap is no
#   sign of trouble.
# * Most of the parameters sit after the max-pool: the two 64-kernel layers (18,432
#   and 36,864) and the 6x6 output kernels (3,600) hold 58,896 of the 69,408, as
#   `model.summary()` shows.
# * **Next (DNN2):** more kernels after the max-pool. Does more capacity buy accuracy?
#
# ## Run record
# Seed, epochs, device and versions of the run whose outputs you see, and the step's
# target, checked.

# %%
record = results.finish(run, test, notebook=NOTEBOOK)
results.verdict(record)

# %% [markdown]
# ## Try it
# 1. Remove every `layers.ReLU()` from the model cell except the last one before the
#    output block, and train again. How far does the accuracy fall? (Without a ReLU
#    between them, the convolutions on each side of the max-pool collapse into one
#    linear filter; only the max-pool and that last ReLU are left to bend anything.)
# 2. Change the first convolution to `padding="same"` and predict the new output sizes
#    and receptive fields before you run `receptive_field.print_table(model)`. Do not
#    train this model: what does its last convolution output now, and why does that
#    break the classifier?
# 3. Replace the output block (the two output convolutions, the ReLU between them and
#    the `Flatten`) with `layers.Flatten()` and `layers.Dense(10, use_bias=False)`,
#    keeping the `Softmax`. How many parameters does the model have now, and what does
#    `review.print_review(model)` say?
# 4. Apply the Sobel kernel to a "1" and to a "0" from the training set (find one with
#    `np.flatnonzero(y_train == 1)[0]`). Which edges light up in each?
