# ---
# jupyter:
#   dnnsteps:
#     step: dnn2
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
# # DNN2: more capacity
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN2_more_capacity.ipynb)
#
# ## Overview
# DNN1 showed that a small all-convolutional net reads digits. The question now: does
# a bigger one read them better? The skeleton stays exactly as it was, standardising
# layer included; the one change to the model is **more kernels in the three 3x3
# layers after the max-pool**: 64, 96 and 128 instead of 32, 64 and 64. That takes the
# net from 69,408 to 185,248 parameters.
#
# Why widen the layers after the pool and not before it? After the pool the maps are
# 12x12 and smaller, so every extra weight there is applied at a quarter as many
# positions (or fewer) as it would be on the 24x24 maps before it. The first two
# layers, which find edges and gradients, keep DNN1's 16 and 32 kernels.
#
# The recipe changes too: **15 epochs instead of 3**, so that the larger net has time
# to use what it has; the batch size (128) and the learning rate (0.001) stay. To keep
# the two changes apart, the comparison with DNN1 below also prints this run's accuracy
# after 3 epochs, DNN1's whole training.
#
# On the way you will see why every convolution is followed by a ReLU and not by a
# sigmoid or tanh (or one of ReLU's variants), count where the parameters went, weigh
# how many kernels a layer should get, and look inside the trained network: its
# first-layer kernels next to DNN1's hand-made blur and Sobel kernels, and one digit's
# feature maps layer by layer. The course's second network reached
# **99.18%** with about 195k parameters; that is this step's target.

# %% [markdown]
# ## Setup
# One cell installs the helper package `dnnsteps` where it is missing and imports what
# this notebook uses. Offline, point the `MNIST_NPZ` environment variable at a copy of
# Keras's `mnist.npz`. In Colab, to keep your training runs when the session dies, mount
# your Drive (`from google.colab import drive; drive.mount("/content/drive")`) and set
# `RUNS = "/content/drive/MyDrive/dnnsteps-runs"` in the parameters cell below: a new
# session then resumes from Drive.

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

# %%
repeatable(SEED)  # the seeds, and deterministic kernels, for this session (see DNN1)

# %% [markdown]
# ## The data and the recipe
# The same MNIST as in DNN1: raw pixels 0-255, which the model's first layer
# standardises. The recipe is DNN1's with 15 epochs instead of 3.

# %%
(x_train, y_train), (x_test, y_test) = data.mnist()
print("train:", x_train.shape, " test:", x_test.shape)

# %% tags=["recipe"]
EPOCHS = 15
BATCH_SIZE = 128
LEARNING_RATE = 0.001

# %% [markdown]
# ## Why every convolution is followed by a ReLU
# A convolution is **linear**: it only multiplies by weights and adds. Stack two of
# them and you get another linear filter, so without something non-linear in between,
# ten layers could do no more than one. A linear function `f` passes a simple test:
# `f(a + b) = f(a) + f(b)` for any two inputs. Here is that test on two test digits
# (scaled to 0-1), for two stacked convolutions with and without a ReLU between them.

# %%
a, b = x_test[:1] / 255, x_test[1:2] / 255


def conv():
    return layers.Conv2D(8, 3, use_bias=False)


stacks = {
    "two convs, no ReLU": keras.Sequential([conv(), conv()]),
    "ReLU in between": keras.Sequential([conv(), layers.ReLU(), conv()]),
}
for name, f in stacks.items():
    gap = np.abs(np.asarray(f(a + b)) - np.asarray(f(a)) - np.asarray(f(b))).max()
    print(f"{name:<20} largest |f(a + b) - f(a) - f(b)| = {gap:.4f}")

# %% [markdown]
# Without the ReLU the two sides agree up to rounding: the stack is linear. With it,
# they do not.
#
# Why ReLU and not the older **sigmoid** or **tanh**? Training sends the gradient
# backwards through every layer (backpropagation), and by the chain rule each
# activation multiplies it by its own slope. The cell prints each function and its
# slope at a few values.

# %%
z = np.array([-6.0, -2.0, -0.5, 0.5, 2.0, 6.0], dtype="float32")
ops = keras.ops
relu, sigmoid, tanh = (np.asarray(f(z)) for f in [ops.relu, ops.sigmoid, ops.tanh])
table = {
    "relu": (relu, (z > 0).astype("float32")),
    "sigmoid": (sigmoid, sigmoid * (1 - sigmoid)),
    "tanh": (tanh, 1 - tanh**2),
}
print(f"{'x':<14}" + "".join(f"{v:>8.1f}" for v in z))
for name, (value, slope) in table.items():
    print(f"{name:<14}" + "".join(f"{v:>8.3f}" for v in value))
    print(f"{'  its slope':<14}" + "".join(f"{v:>8.3f}" for v in slope))
print(f"sigmoid's slope is at most 0.25: through 10 sigmoid layers, at most {0.25**10:.1e}")

# %% [markdown]
# Sigmoid's slope is never above 0.25 and falls to almost nothing once |x| is a few
# units; tanh flattens out the same way. Multiply such numbers layer after layer and
# the gradient that reaches the first layers **vanishes**, and they barely learn. ReLU's
# slope is exactly 1 for every positive input, so the gradient passes through
# unchanged, and 0 for negative ones, which simply blocks those values. A kernel that
# wants a value passed on has to make it positive. Simple as it is, `max(0, x)` is the
# activation the course uses everywhere, and so do these notebooks.
#
# ### ReLU's variants
# ReLU's slope of 0 for every negative input has a price: a unit whose inputs stay
# negative passes no gradient back and stops learning. The course lists the variants
# that let negative values through a little. **Leaky ReLU** keeps a small fixed slope
# for them (0.1 here). **PReLU** (parametric ReLU) makes that slope a weight that the
# network learns. **ELU** bends smoothly from 0 down towards -1, as `exp(x) - 1`. The
# cell prints each on the values above, with its slope (measured as the change over a
# small step), and counts the slopes a PReLU learns on a 26x26x16 map: one per value, or
# one per channel with `shared_axes=[1, 2]`. Keras starts a PReLU's slopes at 0, a plain
# ReLU; here they start at 0.25 to show the shape.

# %%
variants = {
    "ReLU": layers.ReLU(),
    "LeakyReLU(0.1)": layers.LeakyReLU(negative_slope=0.1),
    "PReLU": layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25)),
    "ELU": layers.ELU(),
}
step = 1e-3
print(f"{'x':<16}" + "".join(f"{v:>8.1f}" for v in z))
for name, f in variants.items():
    value = np.asarray(f(z))
    slope = (np.asarray(f(z + step)) - np.asarray(f(z - step))) / (2 * step)
    print(f"{name:<16}" + "".join(f"{v:>8.3f}" for v in value))
    print(f"{'  its slope':<16}" + "".join(f"{v:>8.3f}" for v in slope))
for shared in (None, [1, 2]):
    prelu = layers.PReLU(shared_axes=shared)
    prelu(keras.ops.zeros((1, 26, 26, 16)))  # the output of 16 3x3 kernels on a digit
    print(f"PReLU, shared_axes={shared}: {prelu.count_params():,} slopes to learn")

# %% [markdown]
# For positive inputs all four rows match ReLU. On the negative side only ReLU's slope
# row is all zeros: Leaky ReLU and PReLU keep a gradient everywhere, and ELU's slope
# fades out only far to the left. Set the two PReLU counts beside the 144 weights of
# the 16 kernels that make such a map (the first layer). The course's view: no variant
# has been shown clearly better, the gains claimed are small and cost computation, and
# GPUs have fast paths for ReLU. It sticks to ReLU, and so do these notebooks.
#
# ## The model
# The same skeleton as DNN1, layer for layer; only the numbers of kernels in
# convolution block 2 differ. Each comment gives the output size and the receptive
# field (RF).

# %% tags=["model"]
keras.utils.set_random_seed(SEED)  # the same initial weights on every run
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
        # Convolution block 1: edges and gradients
        layers.Conv2D(16, 3, use_bias=False),  # 26x26x16, RF 3
        layers.ReLU(),
        layers.Conv2D(32, 3, use_bias=False),  # 24x24x32, RF 5
        layers.ReLU(),
        # Transition block: halve the map, then merge 32 channels into 16
        layers.MaxPooling2D(2),  # 12x12x32, RF 6
        layers.Conv2D(16, 1, use_bias=False),  # 12x12x16, RF 6
        layers.ReLU(),
        # Convolution block 2: parts of digits, with 64, 96 and 128 kernels
        layers.Conv2D(64, 3, use_bias=False),  # 10x10x64, RF 10
        layers.ReLU(),
        layers.Conv2D(96, 3, use_bias=False),  # 8x8x96, RF 14
        layers.ReLU(),
        layers.Conv2D(128, 3, use_bias=False),  # 6x6x128, RF 18
        layers.ReLU(),
        # Output block: 10 channels, then one 6x6 kernel per class, then softmax
        layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
        layers.ReLU(),
        layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
        layers.Flatten(),  # 10
        layers.Softmax(),
    ],
    name="dnn2",
)
model.summary()

# %% [markdown]
# ## Where the parameters went
# A convolution with a *k*x*k* kernel, *c_in* input channels and *c_out* kernels has
# `k * k * c_in * c_out` weights (no biases here). Widening a layer therefore counts
# twice: once for its own kernels, and once more in the next layer, which now reads
# more channels. The cell puts each convolution of DNN1, its kernel shape copied from
# DNN1's model cell, beside the same one here, with its share of this model.

# %% tags=["nbval-check-output"]
dnn1_kernels = [(3, 3, 1, 16), (3, 3, 16, 32), (1, 1, 32, 16), (3, 3, 16, 32)]
dnn1_kernels += [(3, 3, 32, 64), (3, 3, 64, 64), (1, 1, 64, 10), (6, 6, 10, 10)]
convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
total = model.count_params()
head = f"{'layer':<8}{'DNN1 kernel':>14}{'DNN2 kernel':>15}"
print(f"{head}{'DNN1':>8}{'DNN2':>9}{'share':>7}")
for i, (before, now) in enumerate(zip(dnn1_kernels, convs), start=1):
    old, new = "x".join(map(str, before)), "x".join(map(str, now.kernel.shape))
    counts = f"{int(np.prod(before)):>8,}{now.count_params():>9,}"
    print(f"conv {i:<3}{old:>14}{new:>15}{counts}{now.count_params() / total:>7.0%}")
dnn1_total = sum(int(np.prod(shape)) for shape in dnn1_kernels)
print(f"{'total':<37}{dnn1_total:>8,}{total:>9,}")

# %% [markdown]
# The last 3x3 layer went from 64 to 128 kernels *and* from 64 to 96 input channels,
# so it holds three times the weights it had (110,592 instead of 36,864): 60% of the
# model on its own. The first three convolutions, where the maps are large, hold 5,264
# weights between them, under 3%.
#
# ## How many kernels a layer gets
# The course gives reasons rather than a formula:
#
# * **Expressiveness.** The more classes, and the more they vary between and within
#   themselves (every breed of dog is still a dog), the more features a network needs.
#   The course's ImageNet example ends a block with 512 kernels; ten digits in one grey
#   channel need far fewer: these notebooks use 8 to 128 kernels a layer.
# * **Hardware.** Every kernel costs weights (the table above) and one feature map per
#   image in memory while training (DNN4 measures that). A model that does not fit the
#   machine it runs on has to shed kernels.
# * **A pattern.** Within a block the course doubles the count layer after layer (32,
#   64, 128, 256, 512): powers of two, which GPUs handle well, rising to the 512 the
#   block must end with. It trims the counts later, for the hardware at hand.
# * **A ceiling.** A 3x3 kernel on a single grey channel has 9 weights, so every map the
#   first layer makes is a weighted sum of the same 9 shifted copies of the image: 16
#   kernels there cannot give more than 9 maps that really differ. Deeper, a 3x3
#   kernel on 16 channels has 144 weights, and the ceiling is out of the way.
#
# The cell checks the ceiling on 20 test digits. It counts the independent maps of an
# untrained first layer with 16 kernels, and of a second layer with 32 kernels after a
# ReLU: how many of the maps really differ, that is, how many cannot be made by adding
# up multiples of the others (what linear algebra calls the rank; NumPy finds it from
# the singular values, counting those above a hundred-thousandth of the largest).

# %%
keras.utils.set_random_seed(SEED)
images = x_test[:20] / 255
first = layers.Conv2D(16, 3, use_bias=False)(images)  # 16 maps from 1 channel
second = layers.Conv2D(32, 3, use_bias=False)(keras.ops.relu(first))  # 32 from 16
for name, maps, weights in [
    ("16 kernels, 3x3x1", first, 9),
    ("32 kernels, 3x3x16", second, 144),
]:
    values = np.asarray(maps).reshape(-1, maps.shape[-1])  # one column per map
    singular = np.linalg.svd(values, compute_uv=False)
    independent = int((singular > singular[0] * 1e-5).sum())
    print(
        f"{name} ({weights:>3} weights each): {independent:>2} independent maps of {maps.shape[-1]}"
    )

# %% [markdown]
# The first line cannot show more than 9, whatever the kernels: before the ReLU, the
# kernels past the ninth only add new mixtures of the same nine maps. The ReLU, which
# cuts each map at zero on its own, is what lets them differ for the next layer. The
# second line is not held back this way: 144 weights per kernel leave room for 32.
#
# ## The receptive field
# The receptive field depends on kernel sizes and strides, not on how many kernels a
# layer has, so the table is the same as DNN1's: 28x28 at the output.

# %% tags=["nbval-check-output"]
receptive_field.print_table(model)

# %% [markdown]
# ## Rules of thumb, checked
# The course's rules of thumb, listed in DNN1, checked layer by layer. The skeleton is
# DNN1's, so the finding is too: the 6x6 output kernel.

# %% tags=["nbval-check-output"]
rules.print_review(model)

# %% [markdown]
# ## Training
# The same `compile` and `fit` as in DNN1, where every argument is explained; only the
# recipe's number of epochs differs. `resumable` saves every epoch in a run folder
# under `RUNS`, so running the cell again resumes after the last finished epoch, and a
# finished run is loaded instead of trained again.

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
    callbacks=[resumable(RUNS, data=train)],
    verbose=2,
)

# %% [markdown]
# Loss and accuracy per epoch, on the training images and on the test images.
# The y-axes are fitted to epochs 2 onwards, so epoch 1's points, lower in accuracy and
# higher in loss, can lie off the chart; the log above prints epoch 1's figures.

# %%
plots.training_curves(history);

# %% [markdown]
# ## Evaluation
# `model.evaluate` on the test set, with the weights of the last epoch. The best epoch
# is picked by looking at these same test images, so its accuracy is a little
# optimistic; the last epoch's is the number to quote.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"model.evaluate: loss {test_loss:.4f}, accuracy {test_accuracy:.2%}")
print(results.best_and_final(history))

# %% [markdown]
# ## What the network learned
# DNN1 slid hand-made kernels over a digit: a blur and two Sobel edge detectors. The
# trained network has 16 kernels of its own in its first convolution, drawn below. Each
# kernel is coloured on its own scale: red marks its largest weights, blue its
# smallest, so the colours show the pattern inside a kernel but not whether a weight
# is above or below zero. A kernel that is red on one side and blue on the opposite
# side responds to a change of brightness across it, as a Sobel kernel does. Whether a
# kernel averages its neighbours, like a blur, the colours cannot tell; a number can.
# The cell measures how close each hand-made kernel comes to its best match among the
# learned ones: a cosine of +1 is the same pattern, -1 the same pattern with its sign
# flipped (for an edge detector: the edge seen from the other side), 0 nothing in
# common. Kernels are numbered from 0, left to right.

# %%
plots.first_layer_kernels(model)
first_conv = model.layers[1]  # model.layers[0] is the standardising Rescaling
learned = np.asarray(first_conv.kernel)[:, :, 0, :]  # 3x3 weights of each kernel
sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype="float32")
hand_made = {
    "blur": np.full((3, 3), 1 / 9),
    "vertical edges": sobel_x,
    "horizontal edges": sobel_x.T,
}
for name, kernel in hand_made.items():
    norms = np.linalg.norm(kernel) * np.linalg.norm(learned, axis=(0, 1))
    cosine = np.einsum("ij,ijn->n", kernel, learned) / norms
    best = int(np.argmax(np.abs(cosine)))
    print(f"{name:<17} closest learned kernel: {best:>2} (cosine {cosine[best]:+.2f})")

# %% [markdown]
# In this run both Sobel kernels have close matches: kernel 13 for vertical edges
# (cosine -0.79) and kernel 6 for horizontal ones (-0.89). Both cosines are negative,
# so the signs are flipped: each of these kernels responds to brightness changing the
# other way, the same edge seen from its other side. No learned kernel comes close to a
# plain blur: the best, kernel 0, reaches only -0.39.
#
# The next figure follows one test digit through the network: each row is the output
# of one ReLU (eight of its channels): after the first and second convolutions, after
# the 1x1 merge, and after the first 3x3 convolution behind the pool. Look for channels
# that light up the background around the digit, and others that light up along its
# strokes or on one side of them. After the pool the maps are coarser (12x12, then
# 10x10), and single channels begin to respond to one part of the digit. A map that is
# one flat dark colour all over belongs to a channel whose ReLU output is zero
# everywhere on this digit: what its kernel looks for is not there.

# %%
plots.feature_maps(model, x_test[0]);

# %% [markdown]
# ## Compared with DNN1
# The same seed and the same data; the rows differ by the wider layers and the longer
# training. The line under the table is this run after 3 epochs, the length of DNN1's
# training.

# %%
print(results.compare(history, "DNN2_more_capacity", previous="DNN1_first_all_conv_net"))
val_accuracy = history.history["val_accuracy"]
if len(val_accuracy) >= 3:
    print(f"DNN2 after 3 epochs: {val_accuracy[2]:.2%} test accuracy")

# %% [markdown]
# What to read in the table, beside the parameters (185,248 against 69,408, about 2.7
# times DNN1's):
# * **last val acc**: the honest accuracy of each run. The difference is what width
#   and 12 more epochs bought together; the line under the table separates them: set
#   this run's accuracy after 3 epochs beside DNN1's last.
# * **last train acc** and **gap** (train minus test, in percentage points): a bigger
#   net trained for longer can fit the training images more closely than the test
#   images, and the gap shows by how much.
#
# ## What this run shows
# * Widening the three layers after the pool multiplied the parameters by about 2.7,
#   and the last 3x3 layer holds most of them.
# * The wider net ends above DNN1, 99.03% against 98.57% in the last-epoch column:
#   0.46 percentage points for 2.7 times the parameters and five times the epochs.
#   After 3 epochs the width alone shows no gain: this run stood at 98.35%, 0.22 points
#   below DNN1's 98.57% (though epoch 3 is one of its dips: it stood at 98.64% after
#   epoch 2).
# * The test accuracy does not rise steadily: it falls back in five of the 15 epochs,
#   to 98.50% at epoch 10 for one, while the training loss falls in all but two. By
#   the end the training accuracy runs 0.74 points ahead of the test accuracy, where
#   DNN1's ran 0.01 points behind.
# * This run did not reach the course's 99.18%: its best epoch, 99.14% at epoch 7, is 4
#   test images short, and the last epoch ends at 99.03%. The course's figure is one
#   run of its own; another seed lands a few images either side.
# * **Next (DNN3):** the same skeleton with far fewer kernels. How much of this
#   accuracy do 185k parameters really buy?
#
# ## Run record
# The run in two lines, and the step's target, the course's 99.18%, checked.

# %%
record = results.record("DNN2_more_capacity", model, history, test_accuracy, test_loss)
met = results.verdict("dnn2", history)

# %% [markdown]
# ## Try it
# 1. Halve the last 3x3 layer: `layers.Conv2D(64, 3, ...)` instead of 128. Before you
#    run, work out from the parameter table how many weights that removes (the 1x1
#    layer after it reads fewer channels too); then train and compare the last-epoch
#    accuracy with this run's.
# 2. Replace every `layers.ReLU()` in the model cell with
#    `layers.Activation("sigmoid")` and train again. Compare the first epochs' accuracy
#    with this run's: does the net get going as quickly? Then try
#    `layers.PReLU(shared_axes=[1, 2])`: how many parameters does it add
#    (`model.summary()`), and does the last epoch's accuracy move?
# 3. Look at a digit the net gets wrong:
#    `wrong = np.flatnonzero(plots.predictions(model, x_test) != y_test)`, then
#    `plots.feature_maps(model, x_test[wrong[0]])`. Which row looks most unlike the
#    maps of the correctly read digit above?
# 4. Run the kernel-matching cell again with the emboss kernel from the course,
#    `np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])`, added to `hand_made`. Did the net
#    learn a diagonal edge detector too?
