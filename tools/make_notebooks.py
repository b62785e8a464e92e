"""Write notebooks/DNN1..DNN8 from one template plus each step's own prose.

The notebooks are the product; this script only keeps their shared shape (setup,
parameters, summary, review, training, evaluation, record) identical, so the
prose is the only thing that differs. Run it, then execute the notebooks with
``python -m dnnsteps suite``. Re-running it drops the outputs.
"""

from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dnnsteps import notebooks, results

REPO = "dnnsteps/dnnsteps"
ROOT = Path(__file__).resolve().parents[1]

SETUP = """# Setup: in Colab (or anywhere dnnsteps is missing) install it, then import.
try:
    import dnnsteps
except ImportError:
    %pip install -q "dnnsteps @ git+https://github.com/{repo}"
    import dnnsteps
from dnnsteps import {modules}"""

# What every notebook imports; a notebook adds its own extras (spec["imports"]).
MODULES = ("complexity", "models", "plots", "receptive_field", "results", "review", "train")

PARAMETERS = """# Parameters (tagged "parameters": papermill and the test suite may override them).
STEP = "{step}"
NOTEBOOK = "{notebook}"
SEED = 0  # one seed fixes Python, NumPy and TensorFlow randomness
EPOCHS = None  # None: the step's recipe; DNNSTEPS_SMOKE=1 runs 2 epochs on 2,000 images
print(f"{{NOTEBOOK}}: {{dnnsteps.config.mode_name()}} mode, recipe {{models.get_step(STEP).recipe}}")"""


def _lite_run_lowest() -> list:
    """dnn8_lite's row, per seed, from the DNN8 notebook's own run (results/dnn8_lite.json)."""
    record = results.load_metrics(ROOT / "results" / "dnn8_lite.json")
    lowest = results.lowest_held(record) if record else {}
    return [
        round(100 * lowest[str(seed)], 2) if str(seed) in lowest else None
        for seed in (0, 1, 2)
    ]


def _dnn8_lowest() -> float | None:
    """DNN8's lowest val accuracy of its last 3 epochs, from the suite's results/metrics.json."""
    record = results.load_metrics(ROOT / "results" / "metrics.json")
    curve = (record or {}).get("DNN8_assignment", {}).get("val_accuracy_curve")
    return round(100 * results.lowest_of_last(curve, 3), 2) if curve else None


# Every run behind the "what we tried" table: (widths, params, what changed, and the
# lowest val accuracy of the last 3 epochs for seeds 0, 1, 2, or None when not run).
# Full MNIST, 15 epochs, one-cycle peak 0.01 unless the row says otherwise.
LITE_RUNS = [
    (
        "8, 12, 8, 12, 14, 14",
        5_584,
        "rotations up to 7 degrees and shifts up to 8%, no dropout",
        99.22,
        None,
        None,
    ),
    (
        "4, 8, none, 12, 16, 16",
        5_604,
        "the same augmentation; no 1x1 transition, half the maps before the pool",
        99.21,
        None,
        None,
    ),
    (
        "8, 16, 8, 12, 16, 16",
        6_712,
        "the same augmentation, peak rate 0.005",
        99.18,
        None,
        None,
    ),
    (
        "8, 12, 8, 12, 14, 14",
        5_584,
        "no augmentation, no dropout: now it overfits (train 99.8%)",
        99.24,
        None,
        None,
    ),
    (
        "8, 12, 8, 12, 14, 14",
        5_584,
        "no augmentation, dropout 5% after the pool",
        99.16,
        None,
        None,
    ),
    ("8, 16, 8, 16, 16, 16", 7_592, "no augmentation, dropout 5%", 99.42, None, None),
    ("8, 12, 8, 12, 16, 16", 6_376, "no augmentation, dropout 5%", 99.43, 99.43, 99.28),
    (
        "8, 12, 8, 12, 16, 16",
        6_376,
        "the same; the cycle ends 3 epochs early (`tail=3`), so the last 3 epochs run at the floor rate",
        99.43,
        99.49,
        99.38,
    ),
    (
        "8, 12, 8, 12, 16, 20",
        7_008,
        "as the row above, with 20 kernels in the last 3x3 layer",
        99.37,
        99.36,
        99.40,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "dropout 5%, `tail=3`",
        99.41,
        99.49,
        99.41,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "the same, two threads",
        99.44,
        99.40,
        99.38,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "as above with label smoothing 0.1, two threads",
        None,
        None,
        99.39,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "no dropout, `tail=3`, two threads",
        99.41,
        99.30,
        99.41,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "dropout 5%, `tail=3`, batches of 64 instead of 128",
        None,
        99.44,
        99.49,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_592,
        "the same, two threads",
        99.51,
        99.46,
        99.41,
    ),
    (
        "8, 16, 8, 16, 16, 16",
        7_560,
        "DNN8's lean stem with batches of 128 instead of 64, two threads",
        99.37,
        None,
        None,
    ),
    (
        "**8, 16, 8, 16, 16, 16**",
        7_560,
        "**DNN8's lean stem (no batch norm on the 26x26 and 24x24 maps), two threads: "
        "`dnn8_lite`**",
        *_lite_run_lowest(),
    ),
    (
        "8, 16, 8, 16, 24, 24",
        11_736,
        "DNN8 itself, for scale (11 epochs, no dropout, batches of 64)",
        _dnn8_lowest(),
        None,
        None,
    ),
]


def _tried_table() -> str:
    def cell(value):
        return "-" if value is None else f"{value:.2f}%"

    lines = [
        "| widths (c1, c2, t, c3, c4, c5) | params | what changed | seed 0 | seed 1 | seed 2 |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for widths, params, change, *seeds in LITE_RUNS:
        lines.append(
            f"| {widths} | {params:,} | {change} | {' | '.join(map(cell, seeds))} |"
        )
    return "\n".join(lines)


LITE_TRIED = (
    _tried_table()
    + """

Each seed column shows the **lowest** validation accuracy of the run's last 3
epochs: the number the rule checks ("-": that seed was not run).

What the table says: at this size **augmentation hurts** within 15 epochs (the net
has too little capacity to learn the harder, augmented digits: its training accuracy
ends near 99.4%, no higher than its test accuracy); the last two 3x3 layers need 16
kernels (14 costs about 0.2 points); and **seeds matter**: the 6,376-parameter net
held 99.4% for two seeds of three. Ending the cycle 3 epochs early makes the last 3
epochs measure one settled net instead of a net still annealing.

The rows marked "two threads" ran exactly as the cells below run (the default on a
2-core machine; with the same seed and thread count a run repeats to the last
digit). The other rows ran with one thread each, and thread count changes the order
of floating-point sums: 5% dropout held the rule with one thread (lowest epoch
99.41%) but missed it with two (seed 2: 99.38%). Neither label smoothing nor dropping
dropout fixed that (without dropout seed 1 fell to 99.30%): the net sat right at
99.4% whatever the regulariser. What moved it was **more steps**: batches of 64 give
twice the updates in the same 15 epochs, and the weak seeds rose to 99.44% and 99.49%.
DNN8's lean stem, taken over unchanged, kept the rule for all three seeds and made
each epoch faster: that is `dnn8_lite` as it runs below. Going back to batches of
128 with it missed again (seed 0: 99.37%).

How it compares: the public results we know of at 99.4% use about 5.9k parameters
(20 epochs) and 6.2k (by epoch 11, with augmentation), for one run each. `dnn8_lite`
is larger; its claim is stricter (every one of the last 3 epochs, three seeds) and it
is what this suite could verify. Beating 5.9k under this rule is open."""
)

LITE_SECTION = [
    (
        "md",
        """## Go further: the smallest net that holds 99.4%

DNN8 is the course's answer. How far down can the parameter count go? The rule here
is stricter than the assignment's: the net must **hold** at least 99.40% test
accuracy in **each of the last 3 epochs** of a run of at most 15 epochs, for **three
seeds** (0, 1 and 2), not touch 99.4% once. Still no fully connected layer and no
bias.

`dnn8_lite` is DNN8, lean stem included (two 3x3 convs, max-pool + 1x1, three 3x3
convs, 1x1 to 10 channels, global average pooling), with its last two 3x3 layers
trimmed from 24 to 16 kernels (7,560 parameters), and keeps what helps a tiny net:

* **batch norm** after every convolution but the first and the last (c2's after its
  max-pool), so a large rate is safe;
* a **light dropout** (5%, after the pool), which DNN8 does without: without it one
  seed of the tiny net fell to 99.30% (see the table below);
* **batches of 64**, as in DNN8: twice the steps per epoch, for a net that needs every one;
* the **one-cycle schedule**, ending 3 epochs early (`tail=3`): epochs 13-15 all run
  at the floor rate of 0.0001, so the last 3 epochs measure one settled net, which
  is what a rule over the last three epochs needs.""",
    ),
    (
        "code",
        'lite = models.build("dnn8_lite", seed=SEED)\nlite.summary()',
    ),
    (
        "code",
        '# NBVAL_CHECK_OUTPUT\nprint(f"{lite.count_params():,} parameters, {complexity.macs_per_image(lite):,} multiply-adds per image")\nreceptive_field.print_table(lite)',
    ),
    (
        "md",
        """### What we tried
Each row is one full run (15 epochs, full MNIST, the same loop as above; seed 0
unless more seeds are listed), every variant with the one-cycle schedule.

"""
        + LITE_TRIED,
    ),
    (
        "md",
        """### Three seeds
Each seed is its own resumable run. The table checks the rule per seed.""",
    ),
    (
        "code",
        'lite_runs = beyond.train_seeds("dnn8_lite", epochs=EPOCHS)',
    ),
    (
        "code",
        "print(beyond.seeds_table(lite_runs))\nplots.seed_curves(lite_runs, target=0.994);",
    ),
    (
        "code",
        "beyond.record(lite_runs, notebook=NOTEBOOK)\nbeyond.assert_holds(lite_runs)",
    ),
]

STEPS = [
    dict(
        step="dnn1",
        slug="first_all_conv_net",
        title="A first all-convolutional network",
        overview="""A first network that classifies handwritten digits with **nothing but
convolutions**: no fully connected (Dense) layer anywhere.

* A **3x3 kernel** looks at a 3x3 patch. Stacking two 3x3 convolutions lets each output
  pixel see a 5x5 patch of the input (its **receptive field**), with fewer parameters
  than one 5x5 kernel (2·9 = 18 weights per channel pair instead of 25).
* After two convolutions the receptive field is 5x5: enough to see edges and gradients
  of a 28x28 digit. That is where we put the one **max-pool**: it halves the map, so
  every later 3x3 kernel covers twice the distance. We never pool right after the
  input (no features yet) nor near the output (we would throw away the final detail).
* A **1x1 convolution** after the pool merges 32 channels into 16: a cheap "feature
  merger" that chooses which combinations of features to keep.
* The **output block** maps to 10 channels, one per digit, and a last convolution
  whose kernel covers the whole remaining 6x6 map collapses it to 1x1. Flatten and
  softmax turn that into 10 probabilities.""",
        extras=[
            (
                "md",
                "## What the network sees\nThe first layer's kernels, and one digit passed through the first convolution blocks: early layers find edges, later ones combine them.",
            ),
            (
                "code",
                "(x_train, y_train), (x_test, y_test) = dnnsteps.data.load_dataset(smoke=True)\nplots.first_layer_kernels(run.model);",
            ),
            ("code", "plots.feature_maps(run.model, x_test[0]);"),
        ],
        learned="""* The whole net is convolutions; the table above shows how each layer grows the
  receptive field until the output sees all 28x28 pixels.
* About 69k parameters reach the course's 98.28% within a few epochs.
* **Next (DNN2):** is more capacity the way to higher accuracy? We widen the layers
  after the max-pool.""",
    ),
    dict(
        step="dnn2",
        slug="more_capacity",
        title="More capacity",
        overview="""The skeleton of DNN1 is kept; the layers **after the max-pool** get up to twice
as many kernels (185k parameters instead of 69k).

Why there? A 3x3 convolution's cost per image is parameters x output pixels. After
the pool the maps are 12x12 and smaller, so the extra kernels cost little time; the
same kernels on the 24x24 maps before the pool would cost four times as much.""",
        extras=[
            (
                "md",
                "## Where it still fails\nThe digits it gets wrong, as *true -> predicted*: many are hard for people too.",
            ),
            (
                "code",
                "x_test, y_test = dnnsteps.data.test_set()\nplots.misclassified(run.model, x_test, y_test);",
            ),
        ],
        learned="""* More capacity helps, but a 2.7x larger model buys less than a percent, and
  the training accuracy runs ahead of the validation accuracy.
* **Next (DNN3):** how few parameters can keep most of that accuracy?""",
    ),
    dict(
        step="dnn3",
        slug="fewer_parameters",
        title="Far fewer parameters",
        overview="""The same skeleton with **far fewer kernels**: 8 and 16 channels instead of 16 to
128, about 10.9k parameters instead of 185k.

The course's point: on MNIST most of DNN2's parameters were not needed. A small net
is faster, easier to reason about, and the starting point for the assignment
(under 15k parameters). The output block is now a large share of the budget: the
last 6x6 convolution alone has 3,600 weights.""",
        extras=[],
        learned="""* A net 17x smaller loses only a fraction of a percent, but it trains more
  slowly and its training curve is bumpy: deep plain nets are hard to optimise.
* **Next (DNN4):** batch normalisation, to make the small net train faster and
  further without adding meaningful parameters.""",
    ),
    dict(
        step="dnn4",
        slug="batch_norm",
        title="Batch normalisation",
        overview="""DNN3 plus **batch normalisation after every convolution but the last**.

Batch norm rescales each channel to zero mean and unit variance over the batch, then
applies a learned scale and shift. Every layer then sees inputs of a steady scale,
whatever the layers before it learned, so larger learning steps are safe and the
small net trains faster. It adds 4 numbers per channel (2 trainable): about 360
parameters here. It never follows the last convolution: the output feeds softmax
directly.""",
        extras=[
            (
                "md",
                "## Which digits get confused\nRows are true classes, columns predictions; off-diagonal counts are mistakes.",
            ),
            (
                "code",
                "x_test, y_test = dnnsteps.data.test_set()\nplots.confusion_matrix(run.model, x_test, y_test);",
            ),
        ],
        learned="""* Batch norm makes the same 11k-parameter net reach higher accuracy in fewer
  epochs.
* **Next (DNN5):** spend more of the 20k budget on kernels, and watch the gap between
  train and validation accuracy.""",
    ),
    dict(
        step="dnn5",
        slug="more_kernels_gap",
        title="More kernels, paid for by global average pooling",
        overview="""Spend the parameter budget on **kernels, not on the output**.

Until now the output block ended with a 6x6 convolution from 10 maps to 10 classes:
3,600 parameters that look at every position of every map, a fully connected layer
in disguise. **Global average pooling** (GAP) replaces it: a 1x1 convolution maps the
last layer's channels to 10 class maps and GAP averages each 6x6 map to one score. It
costs no parameters, and every score still sees the whole digit.

The parameters it frees become kernels: 10-20-10-20-**28-32** (the last two 3x3
layers were 16 in DNN4), about 17.8k parameters, within a 20k budget.

Validation runs on the test set after every epoch. Read the two accuracy curves
together: when the training accuracy keeps rising while validation stalls and
jitters, the net is **overfitting** (memorising the training digits). That gap, and
the jitter, are what the next steps attack.""",
        extras=[],
        learned="""* More kernels raise accuracy again, with the same depth and budget.
* At a constant learning rate validation accuracy jitters by a few tenths from epoch
  to epoch, and training accuracy runs ahead of it: the train/test gap.
* **Next (DNN6):** a learning-rate schedule, against the jitter.""",
    ),
    dict(
        step="dnn6",
        slug="lr_schedule",
        title="Learning-rate schedule",
        overview="""DNN5 trained with a **learning-rate schedule** instead of Adam's constant
0.001. The architecture and parameters are the same as DNN5.

At a constant rate the weights keep bouncing around a minimum, so validation accuracy
jitters by a few tenths from epoch to epoch. A schedule takes **big steps early**
(to cross the loss landscape fast) and **small steps late** (to settle). We use a
**one-cycle** schedule: warm up from 0.001 to 0.01 over the first quarter of the
run (batch norm makes such a large rate safe), then anneal along a cosine to 0.0001.

The course's own schedule is an inverse-time decay, `lr(epoch) = round(0.003 / (1 +
0.319 * epoch), 10)`. It starts fast too, but after 14 epochs it is still at 0.0006:
the steps never get small enough to settle. Both are printed below.""",
        extras=[
            ("md", "## The schedules, epoch by epoch"),
            (
                "code",
                '# NBVAL_CHECK_OUTPUT\nepochs = models.get_step(STEP).recipe.epochs\none_cycle = dict(dnnsteps.schedules.table(models.get_step(STEP).recipe.lr_schedule(), epochs))\ncourse = dict(dnnsteps.schedules.table(dnnsteps.schedules.inverse_time(0.003, 0.319), epochs))\nprint("epoch  one-cycle (ours)  inverse-time (course)")\nfor epoch in range(epochs):\n    print(f"{epoch:>5}  {one_cycle[epoch]:>16.6f}  {course[epoch]:>21.6f}")',
            ),
        ],
        learned="""* Validation accuracy climbs as the rate anneals and is steadiest at the end,
  where it matters: compare the last epochs' curve with DNN5's.
* Training accuracy now reaches almost 100%: the net memorises, and the
  train/test gap is wider than ever.
* **Next (DNN7):** dropout, to close that gap without adding parameters.""",
    ),
    dict(
        step="dnn7",
        slug="dropout",
        title="Dropout",
        overview="""DNN6 plus a small **dropout** (10%) after the 3x3 blocks that follow the
max-pool; the parameters and the schedule are the same.

During training dropout zeroes a random 10% of the activations, so no kernel can rely
on any single other one; at test time nothing is dropped. It is a regulariser: train
accuracy falls a little, validation accuracy rises. It never follows the last
convolution, and it stays small: a tiny net has little capacity to spare. It is left
out before the max-pool, where a handful of edge detectors have no kernels to spare
and where dropout on the large 26x26 and 24x24 maps costs the most time.""",
        extras=[
            ("md", "## The digits it still gets wrong"),
            (
                "code",
                "x_test, y_test = dnnsteps.data.test_set()\nplots.misclassified(run.model, x_test, y_test);",
            ),
        ],
        learned="""* With dropout, training accuracy no longer runs away from validation accuracy:
  compare the gap between the two curves with DNN6's. The results table in the
  README puts the two steps' validation accuracy side by side.
* **Next (DNN8):** the assignment allows fewer than 15,000 parameters: trim the
  layers, first where trimming also saves time, and check that the accuracy stays.
  Dropout will be the one tool DNN8 gives back: on a CPU it is slow.""",
    ),
    dict(
        step="dnn8",
        slug="assignment",
        title="The assignment: under 15k parameters",
        overview="""The final step meets the **course assignment**: at least 99.4% test accuracy,
fewer than 15,000 parameters, within 20 epochs, no fully connected layer and no
convolution bias.

DNN7 has 17.8k parameters. DNN8 makes one change, trimming it to fit, and trims where
trimming also saves time:

* the last two 3x3 layers shrink from 28 and 32 kernels to **24 and 24**;
* the **stem** before the max-pool thins from 10 and 20 kernels to **8 and 16**, and
  batch norm leaves the 26x26 and 24x24 maps (`lean_stem`): c1 is conv -> ReLU, and c2
  max-pools straight after its convolution, then normalises the 12x12 map. ReLU and
  max-pooling commute, so the receptive fields stay DNN7's; batch norm and
  ReLU just touch a quarter of the values. On a CPU that element-wise work on the large
  maps costs more time than the convolutions;
* **dropout gives way to smaller batches.** Dropout draws one random number per
  activation, and on a 2-core CPU those masks cost 12-20% of an epoch. Batches of 64
  (twice the updates per epoch) do its job here. In a trial with a 6-epoch cycle,
  seed 0 reached 99.48% at epoch 6 with DNN7's 10% dropout and without it alike (one
  thread), and without it each epoch took 15 s instead of 18-20 s;
* the one-cycle schedule is **5 epochs** long (`tail=6`): warm up, peak, anneal to the
  floor rate by epoch 5. The other 6 of the course's 11 epochs run at the floor rate
  and show whether the accuracy holds.

That is 11,736 parameters. The course's own 8th step reached 99.46% by epoch 11 with
16.6k parameters; this step's target is at least that, by epoch 11, with fewer parameters.""",
        extras=[
            (
                "md",
                "## The assignment's rules, checked\nThe same check as `python -m dnnsteps check dnn8`; `python -m dnnsteps report dnn8` writes the submission README.",
            ),
            (
                "code",
                "from dnnsteps import assignment\n\nrules = assignment.check(run.model, run.history)\nprint(assignment.format_table(rules))",
            ),
            (
                "code",
                'submission = run.run_dir / "SUBMISSION.md"\nlog_rows = dnnsteps.rundir.RunDir(run.run_dir).read_log()\nstrategy = f"{models.get_step(STEP).title}. {models.get_step(STEP).changes}"\nsubmission.write_text(assignment.report(run.model, log_rows, test, strategy, title=NOTEBOOK))\nprint(submission.read_text()[:600])',
            ),
            ("md", "## Mistakes and kernels"),
            (
                "code",
                "x_test, y_test = dnnsteps.data.test_set()\nplots.confusion_matrix(run.model, x_test, y_test);",
            ),
            ("code", "plots.misclassified(run.model, x_test, y_test);"),
        ],
        learned="""* Under 15k parameters, no bias, no Dense layer: the rules table above is the
  proof, and the submission README holds every epoch's log.
* From DNN1 to DNN8: 69k parameters and under 99% to 11.7k parameters and 99.5%,
  by changing one thing at a time.
* A regulariser is a cost as well as a help: where smaller batches regularise enough,
  dropout's random masks are time spent for nothing.
* **Go further (below):** how small can a net be and still *hold* 99.4%?""",
        after=LITE_SECTION,
        imports=("beyond",),
    ),
]


SETUP_CELL = 2  # index of the setup cell in every notebook


def badge(path: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO}/blob/main/{path}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def build(i: int, spec: dict):
    name = f"DNN{i}_{spec['slug']}"
    step = spec["step"]
    cells = [
        new_markdown_cell(
            f"# DNN{i}: {spec['title']}\n\n{badge(f'notebooks/{name}.ipynb')}\n\n## Overview\n{spec['overview']}"
        ),
        new_markdown_cell(
            "## Setup\nOne cell installs and imports everything. Offline, point `MNIST_NPZ` at a local `mnist.npz`."
        ),
        new_code_cell(
            SETUP.format(
                repo=REPO,
                modules=", ".join(sorted(MODULES + tuple(spec.get("imports", ())))),
            )
        ),
        new_code_cell(PARAMETERS.format(step=step, notebook=name)),
        new_markdown_cell(
            "## The model\nEvery layer with its output shape and parameter count."
        ),
        new_code_cell("model = models.build(STEP, seed=SEED)\nmodel.summary()"),
        new_markdown_cell(
            "### Receptive field, layer by layer\nIn the course's notation: input size | kernel | output size | receptive field. The table is computed with the standard formula, so you do not have to by hand."
        ),
        new_code_cell(
            '# NBVAL_CHECK_OUTPUT\nprint(f"{model.count_params():,} parameters, {complexity.macs_per_image(model):,} multiply-adds per image")\nreceptive_field.print_table(model)'
        ),
        new_markdown_cell(
            "### Rules of thumb\nThe course's advice, checked: no Dense layer, pooling placement, no 5x5 kernels, nothing after the last convolution, no biases."
        ),
        new_code_cell("# NBVAL_CHECK_OUTPUT\nreview.print_review(model)"),
        new_markdown_cell(
            "## Training\nOne line per epoch; validation on the 10,000 test images. The run backs itself up every epoch: if the session dies, run the cell again and it resumes from the last finished epoch."
        ),
        new_code_cell("run = train.fit(model, step=STEP, seed=SEED, epochs=EPOCHS)"),
        new_code_cell("plots.training_curves(run.history, title=NOTEBOOK);"),
        new_markdown_cell("## Evaluation on the test set"),
        new_code_cell(
            "test = train.evaluate(run.model)\nprint(f\"test loss {test['loss']:.4f}, test accuracy {test['accuracy']:.2%}\")"
        ),
    ]
    for kind, text in spec["extras"]:
        cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    cells += [
        new_markdown_cell(f"## What we learned\n{spec['learned']}"),
        new_markdown_cell(
            "## Run record\nSeed, epochs, device, versions and wall time of the run whose outputs you see, and the step's targets, checked."
        ),
        new_code_cell(
            "record = results.finish(run, test, notebook=NOTEBOOK)\nresults.assert_targets(record)"
        ),
    ]
    for kind, text in spec.get("after", []):
        cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    cells[SETUP_CELL + 1].metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=cells)
    nb.metadata["dnnsteps"] = {"step": step}
    return name, nb


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prose-only",
        action="store_true",
        help="update the markdown and setup cells of existing notebooks, keeping the other code and all outputs",
    )
    args = parser.parse_args(argv)
    out = ROOT / "notebooks"
    out.mkdir(exist_ok=True)
    for i, spec in enumerate(STEPS, 1):
        name, nb = build(i, spec)
        path = out / f"{name}.ipynb"
        if args.prose_only:
            existing = notebooks.read(path)
            kinds = [c.cell_type for c in existing.cells]
            if kinds != [c.cell_type for c in nb.cells]:
                raise SystemExit(f"{path}: cells differ from the template; regenerate it.")
            for index, (old_cell, new_cell) in enumerate(zip(existing.cells, nb.cells)):
                # The setup cell prints nothing, so its imports can change too.
                if old_cell.cell_type == "markdown" or index == SETUP_CELL:
                    old_cell.source = new_cell.source
            nb = existing
        notebooks.write(nb, path)
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
