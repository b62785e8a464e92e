"""The assignment's rules (``check``) and the course's rules of thumb (``review``), on
every layer that runs (``walk``: ``model.layers`` misses a nested ``Dense`` head)."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .errors import DnnstepsError
from .receptive_field import layer_types, receptive_fields
from .results import as_printed, first_epoch_at

MAX_PARAMS = 15_000
TARGET_ACCURACY = 0.994
MAX_EPOCHS = 20

L = keras.layers
FULLY_CONNECTED = (L.Dense, L.EinsumDense)
CONVOLUTIONS = layer_types(
    "Conv1D Conv2D Conv3D DepthwiseConv1D DepthwiseConv2D SeparableConv1D "
    "SeparableConv2D Conv1DTranspose Conv2DTranspose Conv3DTranspose"
)
_SLIDING = tuple(c for c in CONVOLUTIONS if "Transpose" not in c.__name__)
_AFTER_LAST_CONV = (L.BatchNormalization, L.Dropout, L.SpatialDropout2D, L.ReLU)
# What print_review states when a model follows every rule of thumb.
RULES = (
    "No strided convolution: max-pooling shrinks the maps; a stride skips pixels "
    "and covers the rest unevenly (the checkerboard effect).",
    "Max-pooling only after a convolution, never straight on the input, never two "
    "in a row, and at least two convolutions before the output.",
    "Stacked 3x3 kernels instead of bigger ones: two 3x3 see 5x5 with 18 weights "
    "instead of 25.",
    "Nothing (batch norm, ReLU, dropout) between the last convolution and softmax.",
    "No bias: the assignment forbids it, and batch norm's shift does that job.",
    "No fully connected layer and no kernel covering the whole map: both lose "
    "where things are (the spatial information) and cost many weights.",
    "The final receptive field covers the whole image, so the output sees the whole digit.",
)
# What each rule of thumb says when broken; {kind}, {size}, ... are the layer's.
MESSAGES = {
    "no_fc": "fully connected ({kind}) layer; use a conv output block or GAP.",
    "bias": "{kind} has a bias; the assignment forbids biases "
    "(batch norm's beta plays that role).",
    "fc_in_disguise": "its kernel covers the whole {size} input map: a fully connected "
    "layer in disguise. It loses the spatial information and costs as many parameters "
    "as a Dense layer; global average pooling does not.",
    "strided_conv": "strided convolution (stride {stride}); the course shrinks maps "
    "with max-pooling.",
    "big_kernel": "{k}x{k} kernel; two 3x3 convs see as much with fewer parameters.",
    "after_last_conv": "{kind} after the last convolution; the output layer should "
    "feed softmax directly.",
    "pool_at_input": "max-pooling directly after the input throws away pixels before "
    "any feature exists.",
    "pool_near_output": "max-pooling within two convolutions of the output; keep the "
    "last layers' detail.",
    "pool_twice": "two max-pools in a row with no convolution between them.",
    "small_rf": "final receptive field {rf}x{rf} is smaller than the {size}x{size} "
    "input; the output cannot see the whole digit.",
}


@dataclass(frozen=True)
class Finding:
    """One rule on one layer (``layer`` empty: the whole model); ``passed`` says how it went."""

    layer: str
    rule: str
    message: str
    required: str = ""
    actual: str = ""
    passed: bool = False

    def __str__(self):
        return f"{self.layer}: {self.message}" if self.layer else self.message


def _children(layer) -> list:
    """The layers ``layer`` holds directly (nested models, custom layers' parts)."""
    found = list(getattr(layer, "_layers", None) or [])
    if not found and isinstance(layer, keras.Model):
        found = list(layer.layers)
    return [c for c in found if isinstance(c, L.Layer)]


def _tree(model) -> list[tuple[str, object]]:
    """(path, layer), path as ``outer/inner/dense``, for every layer inside ``model``."""
    seen, out = set(), []

    def visit(layer, prefix):
        for child in _children(layer):
            if id(child) not in seen:
                seen.add(id(child))
                if not isinstance(child, L.InputLayer):
                    out.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}/")

    visit(model, "")
    return out


def walk(model) -> list:
    """Every layer inside ``model``, nested models and custom layers' parts included."""
    return [layer for _, layer in _tree(model)]


def has_bias(layer) -> bool:
    """Whether ``layer`` itself (not its sub-layers) adds a bias; batch norm's is "beta"."""
    if getattr(layer, "use_bias", False) and not _children(layer):
        return True
    inner = {id(v) for child in _children(layer) for v in child.weights}
    own = [v for v in layer.weights if id(v) not in inner]
    return any(getattr(v, "name", "").split("/")[-1] == "bias" for v in own)


def fully_connected(model) -> list[str]:
    return [path for path, x in _tree(model) if isinstance(x, FULLY_CONNECTED)]


def biased(model) -> list[str]:
    return [path for path, x in _tree(model) if has_bias(x)]


def _spatial_input(layer):
    """The spatial size (e.g. ``(6, 6)``) of what ``layer`` was called on, or None."""
    try:
        spatial = tuple(layer.input.shape)[1:-1]
    except (AttributeError, ValueError, TypeError):
        return None
    return spatial if spatial and None not in spatial else None


def covers_whole_map(layer) -> bool:
    """A convolution whose kernel spans its whole (over 1x1) input map: Dense in disguise."""
    spatial = _spatial_input(layer) if isinstance(layer, _SLIDING) else None
    if spatial is None or all(s == 1 for s in spatial):
        return False
    kernel = tuple(layer.kernel_size)
    return layer.padding == "valid" and all(k >= s for k, s in zip(kernel, spatial))


def val_accuracy(history) -> list[float]:
    """Validation accuracy per epoch from a History, its dict, numbers or log rows."""
    history = getattr(history, "history", history)
    try:
        if isinstance(history, dict):
            return [float(v) for v in history.get("val_accuracy", [])]
        return [float(v["val_accuracy"] if isinstance(v, dict) else v) for v in history]
    except (KeyError, TypeError, ValueError):
        raise DnnstepsError("history must be a Keras History, its .history dict, a list of "
                            "validation accuracies, or log rows that each hold "
                            "val_accuracy.") from None  # fmt: skip


def finding(rule, required, actual, ok) -> Finding:
    message = f"{rule}: {actual} (required {required})"
    return Finding("", rule, message, required, actual, ok)


def layer_rules(dense: list[str], bias: list[str]) -> list[Finding]:
    """No fully connected layer, no bias; shared with the audit of a hand-in's text."""
    layers = (("fully connected layers", dense), ("biases", bias))
    return [finding(rule, "none", ", ".join(names) or "none", not names)
            for rule, names in layers]  # fmt: skip


def accuracy_rule(history) -> Finding:
    """>= 99.4% in one of the first 20 epochs (entry i of ``history`` is epoch i + 1)."""
    val = [as_printed(v) for v in val_accuracy(history)]
    first = first_epoch_at(val[:MAX_EPOCHS], TARGET_ACCURACY)
    late = first_epoch_at(val, TARGET_ACCURACY)
    if not val[:MAX_EPOCHS]:
        actual = "no validation accuracy recorded"
    else:
        actual = f"{max(val[:MAX_EPOCHS]):.2%} best"
        if first:
            actual += f", {TARGET_ACCURACY:.1%} first at epoch {first}"
        elif late:
            actual += f" (reached only at epoch {late})"
    required = f">= {TARGET_ACCURACY:.1%} within {MAX_EPOCHS} epochs"
    return finding("validation accuracy", required, actual, first is not None)


def check(model, history=None) -> list[Finding]:
    """One finding per assignment rule; without a history, the model's rules only."""
    params = int(model.count_params())
    found = [finding("parameters", f"< {MAX_PARAMS:,}", f"{params:,}", params < MAX_PARAMS)]
    found += layer_rules(fully_connected(model), biased(model))
    if history is not None:
        found.append(accuracy_rule(history))
    return found


def passed(findings) -> bool:
    return all(f.passed for f in findings)


def check_table(findings) -> str:
    """A Markdown table: rule | required | actual | passed."""
    lines = ["| rule | required | actual | passed |", "| --- | --- | --- | --- |"]
    for f in findings:
        lines.append(f"| {f.rule} | {f.required} | {f.actual} | "
                     f"{'yes' if f.passed else 'NO'} |")  # fmt: skip
    return "\n".join(lines)


def print_check(model, history=None) -> None:
    findings = check(model, history)
    print(check_table(findings))
    if passed(findings) and history is None:
        print(f"{model.name} meets the rules the model alone decides; accuracy needs a "
              "training log.")  # fmt: skip
    elif passed(findings):
        print(f"{model.name} meets every rule of the assignment.")
    else:
        print("Not there yet: " + "; ".join(f.message for f in findings if not f.passed))


def _broken(layer, i, layers, convs) -> list[str]:
    conv, pool = isinstance(layer, _SLIDING), isinstance(layer, L.MaxPooling2D)
    pools = [j for j in range(i) if isinstance(layers[j], L.MaxPooling2D)]
    relu = isinstance(layer, L.Activation) and layer.activation is keras.activations.relu
    after = isinstance(layer, _AFTER_LAST_CONV) or relu
    tests = {
        "no_fc": isinstance(layer, FULLY_CONNECTED),
        "bias": has_bias(layer),
        "fc_in_disguise": covers_whole_map(layer),
        "strided_conv": conv and max(layer.strides) > 1,
        "big_kernel": conv and max(layer.kernel_size) > 3 and i != convs[-1],
        "after_last_conv": after and bool(convs) and i > convs[-1],
        "pool_at_input": pool and not any(c < i for c in convs),
        "pool_near_output": pool and sum(c > i for c in convs) < 2,
        "pool_twice": pool and bool(pools) and not any(pools[-1] < c < i for c in convs),
    }
    return [rule for rule, broken in tests.items() if broken]


def review(model) -> list[Finding]:
    """The rules of thumb ``model`` breaks, one finding each (empty: follows them all)."""
    leaves = [(path, x) for path, x in _tree(model) if not _children(x)]
    paths, layers = [p for p, _ in leaves], [x for _, x in leaves]
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, CONVOLUTIONS)]
    found = []
    for i, layer in enumerate(layers):
        size = "x".join(str(s) for s in _spatial_input(layer) or ())
        k = max(getattr(layer, "kernel_size", (1,)))
        stride = getattr(layer, "strides", None)
        facts = dict(kind=type(layer).__name__, size=size, k=k, stride=stride)
        for rule in _broken(layer, i, layers, convs):
            found.append(Finding(paths[i], rule, MESSAGES[rule].format(**facts)))
    try:
        last = receptive_fields(model)[-1]
    except DnnstepsError:
        return found  # a layer the receptive-field formula cannot follow
    size = model.input_shape[1]
    if size and last.rf < size:
        text = MESSAGES["small_rf"].format(rf=last.rf, size=size)
        found.append(Finding(last.name, "small_rf", text))
    return found


def print_review(model) -> None:
    """The findings, or, when there are none, the rules checked in plain words."""
    findings = review(model)
    if findings:
        print(f"{model.name} goes against the course's rules of thumb:")
        print("\n".join(f"- {finding}" for finding in findings))
        return
    print("The course's rules of thumb, checked on every layer:")
    print("\n".join(f"- {rule}" for rule in RULES))
    print(f"{model.name} follows all of them.")
