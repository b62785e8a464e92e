# ---
# jupyter:
#   dnnsteps:
#     step: dnn4
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
# # DNN4: batch normalisation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN4_batch_norm.ipynb)
#
# ## Overview
# DNN3 cut the network to 10,872 parameters. This step keeps that network, kernel for
# kernel, and DNN3's recipe (10 epochs, batches of 128, Adam at a learning rate of
# 0.001), and changes one thing: a **batch normalisation** layer after every convolution
# but the last. Each block becomes convolution -> batch norm -> ReLU.
#
# The model's first layer standardises the raw pixels with MNIST's mean and standard
# deviation, as in every step since DNN1. But the values a convolution hands to the next
# layer have no fixed scale: every channel has its own mean and spread, and both drift
# as the weights before it change. Batch norm rescales each channel, on every batch, to
# mean 0 and standard deviation 1, then lets the network pick a scale and an offset of
# its own. Each layer then learns on inputs of a steady size, and a small net like this
# one usually trains faster and further.
#
# You will see what batch norm does to a batch of feature maps, count the four
# numbers it keeps per channel, and weigh the batch size against memory, speed and
# the batch statistics. The course's fourth network reached **98.97%** in 10
# epochs (and 99.08% after 30) with about 11k parameters; 98.97% within 10 epochs is
# this step's target.

# %% [markdown]
# ## Setup
# One cell installs the helper package `dnnsteps` where it is missing and imports what
# this notebook uses. Offline, point the `MNIST_NPZ` environment variable at a copy of
# Keras's `mnist.npz`. In Colab, mount Google Drive
# (`from google.colab import drive; drive.mount("/content/drive")`) and set
# `RUNS = "/content/drive/MyDrive/dnnsteps-runs"` in the cell after it, so that a session
# that dies resumes its training from Drive.

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
# ## The data
# MNIST's training and test digits, as raw pixels from 0 to 255 (float32, one grey
# channel: shape N x 28 x 28 x 1). The model standardises them itself, in its first
# layer.

# %%
(x_train, y_train), (x_test, y_test) = data.mnist()

# %% [markdown]
# ## Normalising inside the network
# Input normalisation is fixed before any weight is learned: the model's first layer,
# `Rescaling`, turns every pixel *p* into `(p / 255 - 0.1307) / 0.3081`, MNIST's mean and
# standard deviation, so the first convolution sees values from about -0.42 (empty
# background) to 2.82 (full ink), with a mean near 0. After that first convolution
# nothing keeps the numbers in check. Each output channel of a convolution has its own
# mean and its own spread, set by its kernel, and they change whenever the kernels
# before it are updated. Every layer has to keep chasing the scale of its input.
#
# **Batch normalisation** applies the same idea as input normalisation, but inside the
# network and for every batch. For each channel it takes the mean and the standard
# deviation over all images of the batch and all positions of the map, and computes
#
# `output = gamma * (input - mean) / std + beta`
#
# `gamma` (scale) and `beta` (offset) are learned, one pair per channel, so the network
# can undo the normalisation where that helps. They start at 1 and 0. The cell below
# standardises 256 training digits as the model's first layer does, passes them through
# one untrained 3x3 convolution with 8 kernels, and prints each channel's mean and
# standard deviation, before and after a `BatchNormalization` layer in **training
# mode**: the mode `model.fit` uses while the network learns. (`model.evaluate` and
# predictions run in **inference mode**, below.)

# %%
keras.utils.set_random_seed(SEED)
standardise = layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081)
maps = layers.Conv2D(8, 3, use_bias=False)(standardise(x_train[:256]))  # 256 x 26x26x8
normalised = layers.BatchNormalization()(maps, training=True)
for name, value in [("conv output", maps), ("after batch norm", normalised)]:
    value = np.asarray(value)
    print(f"{name:>16}  mean per channel: {np.round(value.mean(axis=(0, 1, 2)), 2)}")
    print(f"{'':>16}  std  per channel: {np.round(value.std(axis=(0, 1, 2)), 2)}")

# %% [markdown]
# Compare the rows. Straight out of the convolution every channel has a spread of its
# own, set by its kernel: standard deviations from 0.2 to 1.3, over six times apart.
# The means are close to 0 here (-0.02 to 0.09), because the input is standardised and
# the random starting kernels mix positive and negative weights. After batch norm every
# channel has mean 0 and standard deviation 1 (0.99 for two channels, as batch norm
# adds a tiny constant to the variance, the standard deviation squared, before
# dividing). Deeper in the network, after
# ReLUs that keep only positive values, and as the kernels change during training, the
# raw means and spreads move; batch norm brings them back to 0 and 1 on every batch.
#
# The statistics come from the batch, which is why the method needs batches of a
# reasonable size: with a handful of images the mean and spread jump from batch to
# batch. This recipe trains on batches of 128. In inference mode a digit's prediction
# must not depend on which other digits share its batch, so batch norm also keeps a
# **moving mean** and a **moving variance** per channel: running averages of the batch
# statistics, updated during training and used instead of them in inference mode. The
# optimizer does not learn them, so Keras counts them as **non-trainable** parameters.
#
# Two more consequences for this network. A bias before batch norm would be pointless:
# subtracting the mean removes it, and `beta` already plays its role, which suits the
# course's "no biases" rule. And batch norm never follows the last convolution: that
# layer's outputs are the class scores that go straight to softmax.

# %% [markdown]
# ## The recipe
# DNN3's, unchanged.

# %% tags=["recipe"]
EPOCHS = 10
BATCH_SIZE = 128
LEARNING_RATE = 0.001

# %% [markdown]
# ## The model
# DNN3's layers, with `layers.BatchNormalization()` between each convolution and its
# ReLU. The last convolution (the 6x6 one) gets none. The 1x1 convolution of the output
# block does get one, because a ReLU follows it like any other block. Each comment gives
# the output size and the receptive field (RF).

# %% tags=["model"]
keras.utils.set_random_seed(SEED)  # the same initial weights on every run
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / (255 * 0.3081), offset=-0.1307 / 0.3081),  # standardise
        # Convolution block 1: edges and gradients
        layers.Conv2D(8, 3, use_bias=False),  # 26x26x8, RF 3
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(16, 3, use_bias=False),  # 24x24x16, RF 5
        layers.BatchNormalization(),
        layers.ReLU(),
        # Transition block: halve the map, then merge 16 channels into 8
        layers.MaxPooling2D(2),  # 12x12x16, RF 6
        layers.Conv2D(8, 1, use_bias=False),  # 12x12x8, RF 6
        layers.BatchNormalization(),
        layers.ReLU(),
        # Convolution block 2: parts of digits
        layers.Conv2D(16, 3, use_bias=False),  # 10x10x16, RF 10
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(16, 3, use_bias=False),  # 8x8x16, RF 14
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(16, 3, use_bias=False),  # 6x6x16, RF 18
        layers.BatchNormalization(),
        layers.ReLU(),
        # Output block: 10 channels, then one 6x6 kernel per class, then softmax
        layers.Conv2D(10, 1, use_bias=False),  # 6x6x10, RF 18
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Conv2D(10, 6, use_bias=False),  # 1x1x10, RF 28
        layers.Flatten(),  # 10
        layers.Softmax(),
    ],
    name="dnn4",
)
model.summary()

# %% [markdown]
# ### Four numbers per channel
# The summary ends with trainable and non-trainable parameters. Every batch norm layer
# holds four vectors as long as its channel count: `gamma` and `beta` (trainable) and
# the moving mean and variance (non-trainable). The cell adds them up; compare the
# totals with the summary's last lines.

# %% tags=["nbval-check-output"]
bn_layers = [
    layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)
]
channels = sum(layer.gamma.shape[0] for layer in bn_layers)
print(f"{len(bn_layers)} batch norm layers over {channels} channels")
print(f"trainable (gamma, beta):              2 x {channels} = {2 * channels}")
print(f"non-trainable (moving mean, variance): 2 x {channels} = {2 * channels}")
trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
print(f"model: {trainable:,} trainable, {model.count_params() - trainable:,} non-trainable")

# %% [markdown]
# Batch norm adds 360 numbers to DNN3's 10,872 (11,232 in all), and only half of them,
# 180, are learned. Batch norm treats every position of a map on its own, so the
# receptive field is exactly DNN3's.

# %% tags=["nbval-check-output"]
receptive_field.print_table(model)

# %% [markdown]
# ### Rules of thumb, checked
# The course's rules of thumb (DNN1 listed them), checked layer by layer. Batch norm
# breaks none of them: it sits between a convolution and its ReLU, never between the
# last convolution and softmax, and the convolutions still have no biases (`beta` is
# batch norm's own learned offset, which the rules allow). The one finding is the
# one DNN1 to DNN3 had: the 6x6 output kernel covers the whole map.

# %% tags=["nbval-check-output"]
rules.print_review(model)

# %% [markdown]
# ## Batch size: memory, speed and the statistics
# Every step so far trains on batches of 128. The course's advice on the batch size is
# practical: fill the GPU's memory. While a batch trains, each layer's output for every
# image of the batch is kept until the backward pass has used it, so that memory grows
# with the batch size, while the weights take the same room at any batch size. The cell
# adds up the values this model's layers output for one image, read off their output
# shapes, and scales that by the batch size, in float32 (4 bytes a value). That is an
# estimate: a framework may keep fewer of these outputs, and the gradients, Adam's two
# averages per weight and the framework's own working memory come on top.

# %%
per_image = int(np.prod(model.inputs[0].shape[1:]))  # the input, 28x28x1
for layer in model.layers:
    per_image += int(np.prod(layer.output.shape[1:]))
print(f"values kept per image: {per_image:,} ({per_image * 4 / 1024:.0f} KiB)")
weights_mib = model.count_params() * 4 / 2**20
for batch in (32, 128, 512, 4096):
    mib = batch * per_image * 4 / 2**20
    updates = int(np.ceil(60000 / batch))
    print(
        f"batch {batch:>4}: outputs {mib:>6.1f} MiB, weights {weights_mib:.2f} MiB, {updates:>4} updates/epoch"
    )
print(f"16 GiB would hold the outputs of about {16 * 2**30 // (per_image * 4):,} images")

# %% [markdown]
# Compare the two memory columns: at every batch size it is the layers' outputs, not
# the weights, that decide how large a batch fits. A larger batch also makes better use
# of the hardware: a GPU applies one instruction to many values at once (SIMD, in the
# course's words), and each step has a fixed cost besides. The cell trains copies of
# this model on 1,024 training digits, in batches of 16 and then 256, and prints the
# speed it measures on the machine that runs it (the first batch of each only prepares
# the training step and is not timed).

# %%
import time

x_small, y_small = data.subset(x_train, y_train, 1024)
for batch in (16, 256):
    net = keras.models.clone_model(model)
    net.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
    )
    net.train_on_batch(x_small[:batch], y_small[:batch])  # builds the step: not timed
    start = time.perf_counter()
    for i in range(0, len(x_small), batch):
        net.train_on_batch(x_small[i : i + batch], y_small[i : i + batch])
    speed = len(x_small) / (time.perf_counter() - start)
    print(f"batch {batch:>3}: {speed:>6,.0f} training images per second")

# %% [markdown]
# Does the larger batch train more images per second here, and by how much? Accuracy
# has its own say. A larger batch means fewer updates per epoch (the last column of the
# memory cell above), so in the same number of epochs the weights take fewer steps. And batch norm
# normalises with each batch's own mean and spread, which are noisier the fewer images
# they come from. The cell draws 100 random batches of each size from the standardised
# training pixels and prints how far their means spread (the standard deviation over
# the 100 batches).

# %%
rng = np.random.default_rng(SEED)
pixels = (x_train / 255 - 0.1307) / 0.3081  # standardised, as the model's first layer does
for batch in (8, 32, 128, 512):
    picks = rng.integers(len(pixels), size=(100, batch))  # 100 batches of random digits
    means = pixels[picks].mean(axis=(1, 2, 3, 4))  # one mean per batch
    print(f"batch {batch:>3}: the batch means spread by {means.std():.4f}")

# %% [markdown]
# A mean over four times as many images should spread about half as much. With a
# handful of images per batch, the mean batch norm subtracts jumps from batch to batch
# (and so does the spread it divides by), which is why the course warns that it does not work with small batches. DNN8
# comes back to the batch size and the number of updates.
#
# ## Training
# The compile and fit cell is DNN3's, word for word. During training batch norm
# normalises with each batch's own statistics; when the validation data is scored at
# the end of each epoch, it uses its moving averages. The `resumable` callback saves
# every epoch in a run folder under `RUNS`: if the session dies, run the cell again and
# training resumes after the last finished epoch; a finished run is loaded instead of
# trained again.

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
# was picked on the same images, so its accuracy is a little optimistic; the last
# epoch's is the one to quote.

# %%
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"model.evaluate: loss {test_loss:.4f}, accuracy {test_accuracy:.2%}")
print(results.best_and_final(history))

# %% [markdown]
# ## Compared with DNN3
# The same kernels, the same recipe, the same seed and the same data: the two rows
# differ only by batch norm.

# %%
print(results.compare(history, "DNN4_batch_norm", previous="DNN3_fewer_parameters"))

# %% [markdown]
# Read the `last val acc` column first, the honest figure for each step, then `best val
# acc`: does batch norm reach a higher accuracy? The training log above shows how
# quickly the first epochs climb (the curves leave epoch 1 off the chart). The `gap` column (the last epoch's training accuracy minus its
# validation accuracy, in points) becomes the thing to watch from DNN5 on.

# %% [markdown]
# ## What this run shows
# * Batch norm keeps every channel at mean 0 and standard deviation 1 on each batch,
#   then applies a learned scale and offset: 4 numbers per channel, 2 of them trained,
#   360 numbers in this net.
# * For those 360 numbers the last epoch rises from DNN3's 98.94% to 98.99%, only 0.05
#   points. DNN3 never reached the course's 98.97% (its best was 98.94%); this net
#   passed it at epoch 7, with 99.01%, and stayed above it to the end, though its best
#   epoch is the ninth (99.12%), not the last.
# * It learns faster at the start: 97.81% after the first epoch against 97.18% for
#   DNN3, and 98.59% against 98.00% after the second; only at epoch 4 does it dip below
#   DNN3 (98.23% against 98.60%).
# * It also fits the training images more closely, 99.58% against DNN3's 99.10% in the
#   last epoch, but its test accuracy rose far less (0.05 points against 0.48): the gap
#   widens from DNN3's +0.16 points to +0.59. One run on one seed, though: a few test
#   images either way would change the ranking of the last epochs.
# * **Next (DNN5):** the 6x6 output kernel costs 3,600 parameters, about a third of the
#   net. Global average pooling does that job for none, and the budget goes into more
#   kernels.
#
# ## Run record
# `results.record` prints the run's summary; `results.verdict` checks the step's target,
# 98.97% within 10 epochs.

# %%
record = results.record("DNN4_batch_norm", model, history, test_accuracy, test_loss)
met = results.verdict("dnn4", history)

# %% [markdown]
# ## Try it
# 1. First keep this run's third epoch: `third = history.history["val_accuracy"][2]`
#    (training again replaces `history`). Then delete every
#    `layers.BatchNormalization()` line from the model cell (that is DNN3), set
#    `EPOCHS = 3` in the recipe cell, and run the recipe, model and training cells.
#    Compare the new run's third epoch with `third`.
# 2. Move each batch norm after its ReLU (convolution -> ReLU -> batch norm) and train
#    again. Does `receptive_field.print_table(model)` change? Does the last-epoch
#    accuracy?
# 3. Set `EPOCHS = 30`, run the recipe and model cells, and train: the run folder
#    already holds this run's 10 epochs, so training carries on from epoch 11. Compare
#    the last epoch with the course's 98.97% after 10 epochs and 99.08% after 30. How
#    much do the extra 20 epochs add?
# 4. Batch norm is said to make larger learning steps safe. Set `LEARNING_RATE = 0.01`
#    and train this model and the one from exercise 1, and compare their curves. Run
#    the model cell again before each, so that training starts from fresh weights
#    rather than already trained ones.
