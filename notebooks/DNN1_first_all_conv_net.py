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
# * a **standardising layer** that turns raw pixels into numbers centred on zero,
# * two **3x3 convolutions** that find edges and gradients,
# * a **transition block**: a 2x2 max-pool, which keeps the largest of each 2x2 block
#   of values and so halves the map (it has no weights), then a **1x1
#   convolution** that merges 32 channels into 16,
# * three more 3x3 convolutions that combine edges into parts of digits,
# * an **output block** made of convolutions and a softmax: no fully connected layer
#   anywhere, and no biases (the extra number a layer can add to each output).
#
# On the way you will look at the data, see why and how the input is standardised,
# watch a kernel at work on a digit, work out output sizes, see why kernels have odd
# sizes, work out the receptive field by hand and measure its local and global kinds,
# count what a fully connected head would cost, and see what softmax and the loss
# compute. Then comes the training itself, plain Keras, with every argument of
# `model.compile` and `model.fit` explained before it runs. The course's first network
# reached **98.28%** accuracy on the test digits with about 68k parameters (weights);
# that is this step's target.

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

# %% [markdown]
# `repeatable(SEED)` seeds Python's, NumPy's and Keras's random number generators and,
# on TensorFlow, switches on **op determinism**: TensorFlow's low-level operations (its
# "ops") give the same result every time. Then one seed gives one run, epoch for
# epoch, on a given machine. It switches them for the whole session, so it is called
# once, here, before any model is compiled, and the line it prints says what it
# switched on and what that costs (on a GPU: XLA, the compiler Keras otherwise uses to
# speed training up).

# %%
repeatable(SEED)

# %% [markdown]
# ## Look at the data
# MNIST holds 70,000 handwritten digits, 28x28 pixels, one grey channel: 60,000 to
# train on and 10,000 to test on. `data.mnist()` gives them as the model takes them:
# raw pixel values from 0 to 255 as floats, with a channel axis added (a convolution
# expects height x width x channels), and the labels as class numbers 0-9. Always look
# at the arrays before you train.

# %%
(x_train, y_train), (x_test, y_test) = data.mnist()
print("train:", x_train.shape, x_train.dtype, " test:", x_test.shape)
print("pixel values from", x_train.min(), "to", x_train.max())
print("images per class:", np.bincount(y_train))
plots.images(x_train[:10], [f"label {y}" for y in y_train[:10]]);

# %% [markdown]
# ## How a network learns: the recipe
# A network's **weights**, also called its **parameters**, are the numbers inside its
# layers, such as the nine numbers of a 3x3 kernel. Training starts from random weights
# and corrects them a little at a time. The network reads a **batch** of training
# images and predicts their classes; the **loss**, one number, says how wrong those
# predictions are (the section *Softmax and the loss* shows how it is computed);
# **backpropagation** then works out, for every weight, the **gradient**: in which
# direction, and how steeply, a small change of that weight changes the loss. The
# **optimizer** moves every weight a small step in the direction that lowers the loss.
# That is one **update**. One pass over all 60,000 training images is an **epoch**.
# Three numbers, the step's **recipe**, set the pace:
#
# * `EPOCHS`: how many passes over the training images; DNN1 makes 3.
# * `BATCH_SIZE`: how many images each update reads; 128 here. 60,000 / 128 = 468.75,
#   so an epoch is 469 updates (the last batch holds the 96 images left over). A
#   larger batch gives a steadier gradient but fewer updates per epoch.
# * `LEARNING_RATE`: how large the optimizer's steps are; 0.001 here. Too large, and
#   the weights overshoot the low points of the loss and the accuracy jumps about; too
#   small, and training crawls.

# %% tags=["recipe"]
EPOCHS = 3
BATCH_SIZE = 128
LEARNING_RATE = 0.001

# %% [markdown]
# ## Input normalisation
# Raw pixels run from 0 to 255, mostly 0 (background) with strokes near 255. A network
# trains better on inputs **centred on zero with a spread of about one**: its random
# initial weights are chosen for inputs of that size, so with inputs in the hundreds
# every layer's outputs start out hundreds of times too large, and every update of a
# first-layer weight moves that layer's outputs hundreds of times further than it would
# with inputs near one. So the inputs are **standardised**: divided by 255, then
# MNIST's mean pixel value (0.1307) is subtracted and the result divided by its
# standard deviation (0.3081). Both numbers are measured once on the training pixels,
# scaled to 0-1, and then used for every image, training and test alike.
#
# In these notebooks that is not a preprocessing step but **the model's first layer**:
# `layers.Rescaling(scale, offset)` computes `x * scale + offset`, and with
# `scale = 1 / (255 * 0.3081)` and `offset = -0.1307 / 0.3081` that is exactly
# `(x / 255 - 0.1307) / 0.3081`. The cell applies that layer to the first 1,000
# training images.

# %%
standardise = layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081)
raw = x_train[:1000]
x = np.asarray(standardise(raw))
mean, std = x_train.mean() / 255, x_train.std() / 255
print(f"training pixels / 255: mean {mean:.4f}, std {std:.4f}")
for name, values in [("raw", raw), ("standardised", x)]:
    stats = f"min {values.min():.2f}, max {values.max():.2f}"
    print(f"{name:>12}: {stats}, mean {values.mean():.2f}, std {values.std():.2f}")

# %% [markdown]
# The empty background, 0, becomes -0.1307 / 0.3081 = -0.42, full ink, 255, becomes
# (1 - 0.1307) / 0.3081 = 2.82, and over these images the mean is close to 0 and the
# standard deviation close to 1.
#
# Why inside the model rather than before it?
# * A trained model, saved to a file, takes **raw pixels**: whoever uses it, to read a
#   digit you drew or to grade it, feeds the image as it is and needs to know nothing
#   about 0.1307 and 0.3081.
# * Training and later use cannot disagree: the input cannot be left unnormalised by
#   mistake, nor normalised twice.
# * It costs nothing: the layer has no weights to learn (`model.summary()` shows 0
#   parameters for it).
#
# ## What a kernel does
# A 3x3 kernel is nine weights. Sliding it over the image and summing the products at
# every position gives a new map: a **feature map**. Hand-made kernels show the idea:
# a blur averages neighbours, a Sobel kernel responds to a change of brightness in one
# direction (here: vertical edges, then horizontal ones). A trained network learns its
# own kernels; DNN2 draws its first layer's and compares them with these.

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
# size stays. In general, with padding *p* and **stride** *s* (how many pixels the
# kernel moves between two positions; 1 here):
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
# ## Why 3x3: odd sizes and a centre pixel
# The course's kernels are 3x3 almost everywhere, and their sizes are odd (3x3, 5x5),
# never 2x2 or 4x4. An odd kernel has a **centre pixel**: its output belongs to the
# pixel under that centre, which has as many neighbours on its left as on its right, and
# as many above as below, so the kernel is symmetric about it and can tell left from
# right. An even kernel has no centre: its output sits between pixels, and `same`
# padding must add its extra row and column on one side only. The cell blurs one digit
# (scaled to 0-1) with a mean kernel of each size from 2x2 to 5x5, `same` padding,
# and measures where the centre of its ink lands. Then it builds one 5x5 convolution and
# a stack of two 3x3 ones, which also see 5x5 pixels, and counts their weights.

# %%
ink = x_train[:1] / 255  # one digit: background 0, full ink 1


def centre(image):
    """Row and column of the ink's centre of mass."""
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


row, col = centre(ink[0, :, :, 0])
print(f"the digit:            ink centred at row {row:.2f}, column {col:.2f}")
for k in (2, 3, 4, 5):
    mean_kernel = np.full((k, k, 1, 1), 1 / k**2, dtype="float32")
    blurred = np.asarray(keras.ops.conv(ink, mean_kernel, padding="same"))[0, :, :, 0]
    r, c = centre(blurred)
    moved = f"moved {round(r - row, 2) + 0:+.2f}, {round(c - col, 2) + 0:+.2f}"
    print(f"{k}x{k} blur, same padding: row {r:.2f}, column {c:.2f} ({moved})")
# named layers, so that the model's layers below keep their default names
five = keras.Sequential([layers.Conv2D(1, 5, use_bias=False, name="k5")])
two_threes = keras.Sequential(
    [layers.Conv2D(1, 3, use_bias=False, name=name) for name in ("k3_a", "k3_b")]
)
for name, net in [("one 5x5 kernel", five), ("two 3x3 kernels", two_threes)]:
    out = net(ink)
    print(f"{name}: 28x28 -> {out.shape[1]}x{out.shape[2]}, {net.count_params()} weights")

# %% [markdown]
# Read the `moved` figures: a size whose figures are not zero has shifted the whole
# digit, and a stack of such layers would keep shifting it, always the same way. Stacked
# 3x3 kernels reach every larger odd size: two see 5x5 input pixels with 18 weights
# instead of 25, three see 7x7 with 27 instead of 49, and a ReLU can sit between them.
# A 3x3 kernel can also do whatever a 2x2 one does (set its last row and column to
# zero), but not the other way round. The course adds a practical reason: GPU makers
# have tuned their libraries for 3x3 kernels.

# %% [markdown]
# ## The model
# Every layer is in the cell below: edit it and run the notebook again to try your own
# version (a changed model trains in a run folder of its own). The first layer is the
# standardising `Rescaling` from above. Each comment gives the output size and the
# **receptive field** (RF): how many input pixels, per side, one output pixel can see.
# The ReLU after each convolution but the last passes positive values and sets negative
# ones to zero. Without it, a stack of convolutions would collapse into a single linear
# filter, however deep.

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
    name="dnn1",
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
# The standardising layer changes pixel values, not positions, so it leaves r and j
# alone. After the max-pool every step of a 3x3 kernel moves two input pixels, so each
# 3x3 layer adds 4 to the receptive field instead of 2. The 1x1 convolution adds
# nothing: it only mixes channels. The course's handout takes a shortcut here: it
# doubles the receptive field at a max-pool (11x11 becomes 22x22) and then adds 2 per
# 3x3 layer. The formula gives 6 after this pool, not the shortcut's 10, but every later
# 3x3 layer adds 4 instead of 2: three 3x3 layers on, the formula gives 18 where the
# shortcut would give 16.
# `receptive_field.print_table` applies the formula to every layer of the model and
# notes the max-pool row, where the shortcut's doubling says otherwise; check it
# against the table above.

# %% tags=["nbval-check-output"]
receptive_field.print_table(model)

# %% [markdown]
# ### Local and global receptive field
# The course names two receptive fields. The **local** one is what a kernel sees of the
# layer just before it: for a 3x3 kernel always 3x3, however deep the layer. The
# **global** one is what a pixel sees of the *image*, through every layer before it: the
# table's *r*. The cell lights one pixel of an empty 21x21 image and passes it through
# five stacked 3x3 convolutions, with every weight 1 (so nothing cancels), no ReLU and
# `same` padding (so the map keeps its size). After each layer it measures how far the
# light has spread. With symmetric kernels, the patch of outputs one input pixel reaches
# is as large as the patch of inputs one output pixel sees: the global receptive field.

# %%
image = np.zeros((1, 21, 21, 1), dtype="float32")
image[0, 10, 10, 0] = 1  # one lit pixel
spread = image
for n in range(1, 6):
    conv = layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer="ones")
    spread = conv(spread)
    lit = np.argwhere(np.asarray(spread)[0, :, :, 0] > 0)
    side = lit[:, 0].max() - lit[:, 0].min() + 1
    local = "x".join(map(str, conv.kernel.shape[:2]))
    print(f"after {n} layer(s): local receptive field {local}, global {side}x{side}")

# %% [markdown]
# Compare the global sides with the formula above, which adds 2 per 3x3 layer: 3, 5,
# 7, 9, 11. Five layers reach 11x11, the field the course builds up for edges and
# gradients before its first max-pool, on 400x400 images. A local receptive field says
# nothing about the rest of the image; only the global one grows. The layer that
# decides the class needs a global receptive field as large as the object, here the
# whole 28x28 digit, which is why the table's last row matters.

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
# does not. The loss, **cross-entropy** (the negative log-likelihood), is minus the log
# of the value softmax gives the true class: near 0 when the net is sure and right,
# large when it is sure and wrong. Averaged over a batch, it is the number training
# lowers.

# %%
scores = np.array([[2.0, 1.0, 0.1]])
for scale in (1, 3):
    p = np.asarray(keras.ops.softmax(scale * scores))[0]
    print(
        f"scores x{scale}: softmax {np.round(p, 3)}, loss if class 0 is true: {-np.log(p[0]):.3f}"
    )

# %% [markdown]
# ## Rules of thumb, checked
# The course's advice for a network like this one, in short: shrink maps with
# max-pooling, not with convolutions that move 2 pixels at a time (stride 2); put a
# max-pool only between convolutions, never on the input and never within two
# convolutions of the output; stack 3x3 kernels instead of using bigger ones; put no
# batch norm, ReLU or dropout between the last convolution and the softmax (a
# `Flatten`, which only reshapes, is fine); use no **biases** (an
# extra number a layer can add to each output; the course's assignment forbids them);
# use no fully connected layer and no kernel that covers the whole map; and let the
# final receptive field cover the whole image.
# `rules.print_review` checks them layer by layer: it lists the rules when the model
# follows them all, and otherwise names each layer that breaks one. Here it finds the
# 6x6 output kernel from the section above.

# %% tags=["nbval-check-output"]
rules.print_review(model)

# %% [markdown]
# ## Training
# `model.compile` says how the model learns; `model.fit` runs the training. Each
# argument in turn:
#
# * `optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE)`: the optimizer turns
#   gradients into weight changes. The plainest one, gradient descent, moves every
#   weight by the learning rate times its gradient. **Adam** keeps two running averages
#   for every weight. One is of its recent gradients: it keeps moving in a direction
#   that batch after batch agrees on, and the noise of a single batch counts for less
#   (the course calls this **momentum**). The other is of the gradients' squares: each
#   step is divided by how large that weight's gradients usually are (as **RMSProp**
#   does), so every weight moves by about the learning rate, whether its gradients are
#   large or tiny. It works well untuned, which is why these notebooks use it.
# * `loss="sparse_categorical_crossentropy"`: the cross-entropy above. *Sparse* means
#   the labels are class numbers (`y_train[0]` is 5), not lists of ten 0s and 1s.
# * `metrics=["accuracy"]`: figures to report, not to optimise: accuracy is the share of
#   images whose highest softmax value is the true class. The optimizer sees only the
#   loss, which, unlike accuracy, changes smoothly with every weight.
# * `train = Batches(x_train, y_train, batch_size=BATCH_SIZE, seed=SEED)`: the training
#   images (raw pixels: the model standardises them itself) and their labels, cut into
#   batches of `BATCH_SIZE`. Before each epoch the images are shuffled, so every epoch's
#   batches are different. The order is drawn from `SEED` and the epoch's number alone:
#   the same in every run, and after a resume the one the epoch would have had.
#   `Batches` is a `keras.utils.PyDataset`; `model.fit(x_train, y_train,
#   batch_size=BATCH_SIZE)` would also shuffle, in an order of Keras's choosing.
# * `epochs=EPOCHS`: how many passes, from the recipe.
# * `shuffle=False`: `train` has shuffled already; Keras's own shuffle would reorder the
#   batches once more, from a random generator that a resumed run cannot restore.
# * `validation_data=(x_test, y_test)`: after each epoch the model is scored on images
#   it never trains on, printed as `val_loss` and `val_accuracy`. The course uses the
#   10,000 test images as its validation set, and so do these notebooks.
# * `callbacks=[resumable(RUNS, data=train)]`: a callback is code that
#   Keras runs during training. `resumable` saves every epoch in a run folder under
#   `RUNS`, so running this cell again resumes after the last finished epoch, and a
#   finished run is loaded instead of trained again. `data=train` ties the run to
#   these batches: other images, another batch size or another seed trains in a run
#   folder of its own, and so does any change to the model or to the compile call.
# * `verbose=2`: one line per epoch with its loss, accuracy, val_loss and val_accuracy,
#   instead of a progress bar (1) or nothing (0).
#
# `fit` returns `history`: `history.history` holds each of those figures, one value per
# epoch, for the cells below.

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
# Loss and accuracy per epoch, on the training images and on the validation (test)
# images. The y-axes are fitted to epochs 2 onwards, so epoch 1's points, lower in
# accuracy and higher in loss, can lie off the chart; the log above prints epoch 1's
# figures.

# %%
plots.training_curves(history);

# %% [markdown]
# ## Evaluation
# `model.evaluate` scores the test set with the weights of the last epoch. The "best
# epoch" is picked by looking at these same test images, so its accuracy is a little
# optimistic; the last epoch's is the number to quote.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"model.evaluate: loss {test_loss:.4f}, accuracy {test_accuracy:.2%}")
print(results.best_and_final(history))

# %% [markdown]
# ## What this run shows
# * A plain stack of convolutions, with no fully connected layer, reads digits after
#   one epoch: 98.06% of the test digits after epoch 1, and 98.57% after epoch 3, past
#   the course's 98.28%.
# * The training accuracy ends a little *below* the test accuracy. Keras averages it
#   over the epoch's batches while the weights are still improving; the test accuracy
#   uses the weights at the end of the epoch, so a small negative gap is no sign of
#   trouble.
# * Most of the parameters sit after the max-pool: the two 64-kernel layers (18,432
#   and 36,864) and the 6x6 output kernels (3,600) hold 58,896 of the 69,408, as
#   `model.summary()` shows.
# * **Next (DNN2):** more kernels after the max-pool. Does more capacity buy accuracy?
#
# ## Run record
# The run in two lines, and the step's target, the course's 98.28%, checked.

# %%
record = results.record("DNN1_first_all_conv_net", model, history, test_accuracy, test_loss)
met = results.verdict("dnn1", history)

# %% [markdown]
# ## Try it
# 1. Remove every `layers.ReLU()` from the model cell except the last one before the
#    output block, and train again. How far does the accuracy fall? (Without a ReLU
#    between them, the convolutions on each side of the max-pool collapse into one
#    linear filter; only the max-pool and that last ReLU are left to bend anything.)
# 2. Delete the `layers.Rescaling(...)` line and train again on raw pixels 0-255.
#    Compare the first epoch's loss and accuracy with this run's.
# 3. Change the first convolution to `padding="same"` and predict the new output sizes
#    and receptive fields before you run `receptive_field.print_table(model)`. Do not
#    train this model: what does its last convolution output now, and why does that
#    break the classifier?
# 4. Replace the output block (the two output convolutions, the ReLU between them and
#    the `Flatten`) with `layers.Flatten()` and `layers.Dense(10, use_bias=False)`,
#    keeping the `Softmax`. How many parameters does the model have now, and what does
#    `rules.print_review(model)` say?
