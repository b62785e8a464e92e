# ---
# jupyter:
#   dnnsteps:
#     step: dnn6
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
# # DNN6: dropout
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/dnnsteps/dnnsteps/blob/main/notebooks/DNN6_dropout.ipynb)
#
# ## Overview
# DNN5 gave the small net more kernels and showed, epoch by epoch, the gap between
# training and test accuracy. This step adds **dropout** against that gap and changes
# nothing else: the same layers, the same 17,794 parameters, the same constant learning
# rate (Adam's 0.001), batches of 128. It trains for the course's 21 epochs.
#
# During training a `Dropout(0.1)` layer sets a random 10% of the values passing through
# it to zero and scales the others up by 1/0.9, so their sum stays the same on average.
# No kernel can count on any single input being there, so the net cannot lean on a few
# memorised pixels. At test time nothing is dropped. Following the course ("dropout
# after every layer"), a dropout layer follows **every convolution** (after its batch
# norm and ReLU), the transition block's 1x1 included; only the output block's 1x1
# convolution has none. The rate stays small: a net this size has little capacity to
# spare.
#
# The course's sixth network reached **99.40%** by epoch 21; that is this step's
# target.

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
from dnnsteps import plots, receptive_field, results, review, train
from keras import layers

# %% tags=["parameters"]
# Parameters (papermill and the tests may override them).
STEP = "dnn6"  # the step's recipe: epochs, batch size, learning rate, targets
NOTEBOOK = "DNN6_dropout"
SEED = 0  # one seed fixes Python, NumPy and TensorFlow randomness
EPOCHS = None  # None: the recipe's; DNNSTEPS_SMOKE=1 trains 2 epochs on 2,000 images

# %% [markdown]
# ## What dropout does
# One dropout layer, applied to ones. In training mode each value is set to 0 with
# probability 0.1 and the others become 1/0.9 = 1.11; in inference mode everything
# passes through unchanged. The draw is random: in the row of 20 below, none happened
# to be dropped (that happens about one time in eight, 0.9^20 = 0.12), while over
# 100,000 values 10.1% were, and their mean stays close to 1 (0.999).

# %%
drop = layers.Dropout(0.1, seed=SEED)
ones = np.ones((1, 20), dtype="float32")
print("training: ", np.round(np.asarray(drop(ones, training=True))[0], 2))
print("inference:", np.asarray(drop(ones, training=False))[0])
many = np.asarray(drop(np.ones((1000, 100), "float32"), training=True))
print(f"over 100,000 values: {np.mean(many == 0):.1%} dropped, mean {many.mean():.3f}")

# %% [markdown]
# ## The model
# DNN5's layers with a `Dropout(0.1)` after the ReLU of each of the six convolutions
# before the output block. Dropout has no weights, so the parameter count does not move.

# %% tags=["model"]
keras.utils.set_random_seed(SEED)  # the same initial weights on every run
RATE = 0.1
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        # Convolution block 1
        layers.Conv2D(10, 3, use_bias=False),  # 26x26x10, RF 3
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        layers.Conv2D(20, 3, use_bias=False),  # 24x24x20, RF 5
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        # Transition block
        layers.MaxPooling2D(2),  # 12x12x20, RF 6
        layers.Conv2D(10, 1, use_bias=False),  # 12x12x10, RF 6
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        # Convolution block 2
        layers.Conv2D(20, 3, use_bias=False),  # 10x10x20, RF 10
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        layers.Conv2D(28, 3, use_bias=False),  # 8x8x28, RF 14
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        layers.Conv2D(32, 3, use_bias=False),  # 6x6x32, RF 18
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dropout(RATE),
        # Output block: 1x1 to 10 channels, average each map, softmax
        layers.Conv2D(10, 1, use_bias=False),  # 6x6x10
        layers.GlobalAveragePooling2D(),  # 10
        layers.Softmax(),
    ],
    name=STEP,
)
model.summary()

# %%
# NBVAL_CHECK_OUTPUT
receptive_field.print_table(model)

# %%
# NBVAL_CHECK_OUTPUT
review.print_review(model)

# %% [markdown]
# ## Training
# The same recipe as DNN5 (Adam at a constant 0.001, batches of 128), for 21 epochs.
# Training accuracy is measured with dropout on, test accuracy with it off, so the
# two curves are not measured under the same conditions: a net with dropout can score
# higher on the test set than on its own training batches.

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
# ## Compared with DNN5
# The same net without dropout, trained for 10 epochs. Read the **gap** column (training
# minus test accuracy at the last epoch) and the **last** column.

# %%
print(results.compare(run.summary, NOTEBOOK, previous="DNN5_more_kernels_gap"))

# %% [markdown]
# ## What this run shows
# * **Dropout closed the gap.** At the last epoch the training accuracy, measured with
#   dropout on, is 99.28% against 99.34% on the test set: a gap of -0.06 points, where
#   DNN5 ended at +0.24 (99.42% against 99.18%).
# * **The course's 99.40% is reached, once.** The best epoch, 19, scores 99.51%; the
#   epoch after it scores 99.15%. From epoch 12 on the test accuracy swings between
#   99.15% and 99.51% from one epoch to the next, so the best epoch is a lucky draw
#   picked by looking at the test set. The last epoch, 99.34%, is the honest figure,
#   and it is below the course's. (The run record's verdict below, like the course,
#   counts the best epoch: that is why it says the target was met.)
# * Part of the gain over DNN5 is more epochs: DNN6 trains for 21, DNN5 for 10. At
#   epoch 10 DNN6 scored 98.99%, below DNN5's 99.18%; every epoch above 99.30% came
#   after epoch 14.
# * **Next (DNN7):** the learning rate. At a constant rate the weights keep stepping
#   around a good minimum instead of settling into it, a likely reason the accuracy
#   above jumps. The course's seventh step makes the steps smaller as training goes
#   on.
#
# ## Run record

# %%
record = results.finish(run, test, notebook=NOTEBOOK)
results.verdict(record)

# %% [markdown]
# ## Try it
# 1. Set `RATE = 0.25` in the model cell and train again. What happens to the training
#    accuracy, and to the test accuracy of the last epoch?
# 2. Keep dropout only after the last three 3x3 convolutions, those of convolution
#    block 2 (delete the first three `Dropout` layers). Is the gap any different?
# 3. Replace `layers.Dropout` by `layers.SpatialDropout2D`, which drops whole feature
#    maps instead of single values. Which works better on a net this small?
