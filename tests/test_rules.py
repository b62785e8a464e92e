import keras
import pytest

from dnnsteps import models, rules
from dnnsteps.errors import DnnstepsError

L = keras.layers
PASSING = [0.985, 0.991, 0.9935, 0.9942, 0.9946]


def sequential(*body, shape=(28, 28, 1), name="m"):
    return keras.Sequential([keras.Input(shape), *body], name=name)


def conv(n, k=3, **kw):
    return L.Conv2D(n, k, use_bias=False, **kw)


def tail():
    """Two 3x3 convs, a 1x1 to 10 classes, GAP, softmax: breaks no rule of thumb."""
    return [
        conv(8),
        conv(8),
        conv(10, 1),
        L.GlobalAveragePooling2D(),
        L.Softmax(name="out"),
    ]


def found(*body):
    return [(f.layer, f.rule) for f in rules.review(sequential(*body))]


class Head(L.Layer):
    """A custom layer that hides a Dense inside itself."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(10, use_bias=False, name="inner")

    def call(self, x):
        return self.inner(x)


# The rules of thumb ---------------------------------------------------------------


@pytest.mark.parametrize("name", models.NAMES)
def test_every_step_is_clean_but_for_the_whole_map_output_kernel(name):
    model = models.build(name)
    last = [x for x in model.layers if isinstance(x, L.Conv2D)][-1]
    whole = last.kernel_size[0] > 1  # DNN1-4 end in a 6x6 kernel on the 6x6 map
    expected = [(last.name, "fc_in_disguise")] if whole else []
    assert [(f.layer, f.rule) for f in rules.review(model)] == expected


def test_preprocessing_layers_are_never_findings():
    norm = L.Normalization(mean=0.0, variance=1.0)
    assert found(L.Rescaling(1 / 255, offset=-0.5), norm, *tail()) == []
    # ...but a max-pool straight after them still sits on the input.
    assert ("pool", "pool_at_input") in found(
        L.Rescaling(0.1), L.MaxPooling2D(name="pool"), *tail()
    )


def test_a_kernel_covering_the_whole_map_is_a_fully_connected_layer_in_disguise():
    model = sequential(
        conv(8), conv(8), conv(10, 24, name="whole"), L.Flatten(), L.Softmax()
    )
    (finding,) = rules.review(model)
    assert (finding.layer, finding.rule) == ("whole", "fc_in_disguise")
    assert "24x24" in finding.message and "spatial information" in finding.message
    # A rule of thumb, not a failed rule of the assignment.
    assert rules.check(model)[1].passed


def test_a_kernel_smaller_than_its_map_or_on_a_1x1_map_is_no_fully_connected_layer():
    gap = [L.GlobalAveragePooling2D(), L.Softmax()]
    # 25x25 on the 26x26 map: two positions a side, a big kernel but no dense layer.
    assert found(conv(8), conv(10, 25, name="k"), conv(10, 1), *gap) == [
        ("k", "big_kernel")
    ]
    # 26x26 on 26x26 leaves a 1x1 map; the 1x1 conv on it is no dense layer.
    whole = [("w", "fc_in_disguise"), ("w", "big_kernel")]
    assert found(conv(8), conv(10, 26, name="w"), conv(10, 1), *gap) == whole


@pytest.mark.parametrize(
    "body, expected",
    [
        ([L.MaxPooling2D(name="p"), *tail()], [("p", "pool_at_input")]),
        (
            [
                conv(8),
                conv(8),
                L.MaxPooling2D(name="p"),
                conv(10, 1),
                L.GlobalAveragePooling2D(),
                L.Softmax(),
            ],
            [("p", "pool_near_output")],
        ),
        (
            [conv(8, strides=2, name="s"), *tail()],
            [("s", "strided_conv"), ("out", "small_rf")],
        ),
        ([conv(8, 5, name="big"), *tail()], [("big", "big_kernel")]),
        ([L.Conv2D(8, 3, name="b"), *tail()], [("b", "bias")]),
        ([conv(8), conv(10, 1), L.Softmax(name="out")], [("out", "small_rf")]),
    ],
    ids=[
        "pool_at_input",
        "pool_near_output",
        "strided",
        "big_kernel",
        "bias",
        "small_rf",
    ],
)
def test_each_rule_of_thumb(body, expected):
    assert found(*body) == expected


def test_two_max_pools_in_a_row_but_not_with_a_convolution_between():
    pools = [
        L.MaxPooling2D(),
        conv(8, padding="same"),
        L.MaxPooling2D(),
        L.MaxPooling2D(name="p"),
    ]
    model = sequential(conv(8), *pools, *tail(), shape=(64, 64, 1))
    assert [(f.layer, f.rule) for f in rules.review(model)] == [
        ("p", "pool_twice"),
        ("out", "small_rf"),
    ]


def test_nothing_between_the_last_convolution_and_softmax():
    after = [L.BatchNormalization(), L.ReLU(), L.Activation("relu"), L.Dropout(0.1)]
    rules_found = [
        rule for _, rule in found(*tail()[:3], *after, L.GlobalAveragePooling2D())
    ]
    assert rules_found == ["after_last_conv"] * 4


def test_findings_name_the_layer_inside_a_nested_model():
    head = keras.Sequential(
        [L.Flatten(), L.Dense(10, use_bias=False, name="fc")], name="head"
    )
    model = sequential(conv(8), conv(8), head)
    assert ("head/fc", "no_fc") in [(f.layer, f.rule) for f in rules.review(model)]


def test_print_review_states_the_rules_or_the_findings(capsys):
    rules.print_review(models.build("dnn8"))
    out = capsys.readouterr().out
    assert "18 weights instead of 25" in out and out.count("\n- ") == len(rules.RULES)
    assert out.endswith("dnn8 follows all of them.\n")
    rules.print_review(sequential(L.MaxPooling2D(name="p"), *tail(), name="bad"))
    out = capsys.readouterr().out
    assert "p: max-pooling directly after the input" in out
    assert "follows all" not in out and "18 weights" not in out


# The layer walk -----------------------------------------------------------------------


def test_walk_lists_the_layers_of_a_flat_model_without_its_input():
    model = models.build("dnn8")
    assert rules.walk(model) == model.layers
    assert isinstance(model.layers[0], L.Rescaling)


def test_dense_nested_in_a_functional_sub_model_and_a_custom_layer_is_found():
    x = keras.Input((28, 28, 1))
    y = L.GlobalAveragePooling2D()(conv(4)(x))
    inner_in = keras.Input((4,))
    sub = keras.Model(
        inner_in, L.Dense(10, use_bias=False, name="fc")(inner_in), name="sub"
    )
    model = keras.Model(x, Head(name="custom")(sub(y)))
    assert rules.fully_connected(model) == ["sub/fc", "custom/inner"]
    assert {"sub", "fc", "custom", "inner"} <= {layer.name for layer in rules.walk(model)}
    (fc,) = [f for f in rules.check(model) if f.rule == "fully connected layers"]
    assert not fc.passed and fc.actual == "sub/fc, custom/inner"


def test_einsum_dense_is_fully_connected():
    model = sequential(L.Flatten(), L.EinsumDense("ab,bc->ac", output_shape=10, name="e"))
    assert rules.fully_connected(model) == ["e"]


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda bias: L.Conv2D(4, 3, use_bias=bias, name="b"), (28, 28, 1)),
        (lambda bias: L.SeparableConv2D(4, 3, use_bias=bias, name="b"), (28, 28, 1)),
        (lambda bias: L.DepthwiseConv2D(3, use_bias=bias, name="b"), (28, 28, 1)),
        (lambda bias: L.Conv2DTranspose(4, 3, use_bias=bias, name="b"), (28, 28, 1)),
        (lambda bias: L.Dense(4, use_bias=bias, name="b"), (28, 28, 1)),
        (
            lambda bias: L.EinsumDense(
                "abcd,de->abce", (28, 28, 4), bias_axes="e" if bias else None, name="b"
            ),
            (28, 28, 1),
        ),
        (lambda bias: L.Conv1D(4, 3, use_bias=bias, name="b"), (28, 1)),
        (lambda bias: L.Conv3D(4, 3, use_bias=bias, name="b"), (8, 8, 8, 1)),
    ],
    ids="Conv2D Separable Depthwise Transpose Dense EinsumDense Conv1D Conv3D".split(),
)
def test_every_layer_kind_with_a_bias_is_caught(make, shape):
    assert rules.biased(sequential(make(True), shape=shape)) == ["b"]
    assert rules.biased(sequential(make(False), shape=shape)) == []


def test_batch_norm_beta_is_not_a_bias_but_a_nested_conv_bias_is():
    assert (
        rules.biased(sequential(conv(4), L.BatchNormalization(), L.LayerNormalization()))
        == []
    )
    block = keras.Sequential([L.Conv2D(4, 3, name="c")], name="block")
    assert rules.biased(sequential(block, conv(10, 1))) == ["block/c"]


# The assignment -----------------------------------------------------------------------


def test_dnn8_with_a_good_history_passes_every_rule():
    model = models.build("dnn8")
    findings = rules.check(model, PASSING)
    assert [(f.rule, f.passed) for f in findings] == [
        ("parameters", True),
        ("fully connected layers", True),
        ("biases", True),
        ("validation accuracy", True),
    ]
    assert rules.passed(findings) and "first at epoch 4" in findings[-1].actual
    table = rules.check_table(findings).splitlines()
    assert table[:2] == [
        "| rule | required | actual | passed |",
        "| --- | --- | --- | --- |",
    ]
    assert table[2] == f"| parameters | < 15,000 | {model.count_params():,} | yes |"


def test_parameters_must_stay_below_15000():
    at_limit = sequential(conv(150, 1), shape=(28, 28, 100))  # 100 x 150 = 15,000
    (params, *_) = rules.check(at_limit)
    assert not params.passed and params.message == "parameters: 15,000 (required < 15,000)"
    assert rules.check(sequential(conv(149, 1), shape=(28, 28, 100)))[0].passed
    assert "| parameters | < 15,000 | 15,000 | NO |" in rules.check_table([params])


@pytest.mark.parametrize(
    "history, ok, note",
    [
        ([0.99, 0.994], True, "99.4% first at epoch 2"),
        ([0.99, 0.9939999580383301], True, "99.40% best, 99.4% first at epoch 2"),
        ([0.99, 0.9939499926567078], False, "99.39% best"),
        ([0.99, 0.9939], False, "99.39% best"),
        ([0.99] * 19 + [0.995], True, "first at epoch 20"),
        ([0.99] * 20 + [0.995], False, "reached only at epoch 21"),
        ([], False, "no validation accuracy recorded"),
    ],
)
def test_accuracy_must_reach_994_within_20_epochs(history, ok, note):
    (accuracy,) = rules.check(models.build("dnn8"), history)[3:]
    assert accuracy.passed is ok and note in accuracy.actual


def test_without_a_history_only_the_model_rules_are_checked():
    assert [f.rule for f in rules.check(sequential(*tail()))] == [
        "parameters",
        "fully connected layers",
        "biases",
    ]


def test_every_form_of_history_is_read_alike():
    history = keras.callbacks.History()
    history.history = {"val_accuracy": PASSING, "loss": [0.1] * 5}
    rows = [{"epoch": i, "val_accuracy": v, "loss": 0.1} for i, v in enumerate(PASSING)]
    for form in (history, history.history, rows, PASSING):
        assert rules.val_accuracy(form) == PASSING
    with pytest.raises(DnnstepsError, match="val_accuracy"):
        rules.val_accuracy([{"accuracy": 0.99}])


def test_print_check_prints_the_table_and_what_is_missing(capsys):
    rules.print_check(
        sequential(L.Flatten(), L.Dense(10, use_bias=False, name="fc")), [0.9]
    )
    out = capsys.readouterr().out
    assert "| fully connected layers | none | fc | NO |" in out
    assert out.splitlines()[-1] == (
        "Not there yet: fully connected layers: fc (required none); validation accuracy: "
        "90.00% best (required >= 99.4% within 20 epochs)"
    )
