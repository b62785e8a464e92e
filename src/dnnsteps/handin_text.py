"""A hand-in audited from its text (a README, a notebook's saved outputs), never run.

Students paste what Keras printed, messily: Keras 3 and Keras 2 epoch lines, callback
lines between epochs, notebook prompts, HTML line breaks, several runs in one README.
Patterns that tolerate all of it read the text; a notebook is JSON read for its cells'
text. Nothing a student wrote is imported, executed or unpickled.
"""

from __future__ import annotations

import json
import math
import re
from collections import namedtuple
from dataclasses import dataclass, field

EPOCH = re.compile(r"\bEpoch (\d+)/(\d+)")
VAL = re.compile(r"\bval_(?:sparse_categorical_)?acc(?:uracy)?\s*[:=]\s*([01](?:\.\d+)?)")
METRIC = re.compile(r"\b(\w*(?:loss|acc\w*))\s*[:=]\s*(\d[\d.]*(?:e-?\d+)?)")
TOTAL = re.compile(r"Total params:\s*([\d,]+)")
OPTIMIZER = re.compile(r"Optimizer params:\s*([\d,]+)")  # Keras 3, after training
ROW = re.compile(r"^[\s#]*([\w./-]+)\s+(?:\((\w+)\)?\s+)?\((None(?:, \d+)+)\)\s+([\d,]+)\b")
# model.evaluate's [loss, accuracy], or an accuracy printed outside the epochs
EVALUATED = re.compile(r"(?:\[\s*\d+\.\d+(?:e-?\d+)?\s*,\s*|\bacc(?:uracy)?\b\W{1,3})([01]\.\d\d+)")  # fmt: skip
PERCENT = re.compile(r"(?<![\d.])(9\d\.\d+)\s*%?")  # claimed, on a CLAIM_LINE
CLAIM_LINE = re.compile(r"^(?!.*train).*(?:acc|evaluat|score|result|achiev|reach)", re.I)
PARAMS_SAID = re.compile(r"(?<![\d.])(\d[\d,]*(?:\.\d+)?) ?(k?) ?(?:total |trainable )?param|"
                         r"param\w*[^\w\n]{1,3}(?:[a-z]+ ){0,3}?(\d[\d,]*(?:\.\d+)?) ?(k?)\b", re.I)  # fmt: skip
A_LIMIT = re.compile(r"(?:within|under|less than|below|up ?to|max\w*|<|≤)\W*$", re.I)
RESULT_HEADING = re.compile(r"^\s*(?:#+|\*\*)(?!.*\b(?:other|previous|earlier|first|old|"
                            r"attempt|tr(?:y|ies|ial)|experiment))(.*\b(?:final|result|"
                            r"best|submi)\w*.*)$", re.I | re.M)  # fmt: skip
TARGET = "99.4"  # the assignment's target, named in most READMEs: not a claim
Epoch = namedtuple("Epoch", "start number of val end metrics")  # one printed epoch


@dataclass
class Audit:
    val: list = field(default_factory=list)  # per epoch of the run taken; None: not shown
    epochs: int = 0
    params: int | None = None
    params_from: str = ""  # "summary" or "prose"
    layers_shown: bool = False  # summary rows: Dense and biases checked
    dense: list = field(default_factory=list)
    biased: list = field(default_factory=list)
    architecture: tuple = ()  # each weighted layer but batch norm, as type:output
    claims: list = field(default_factory=list)  # (as written, value, half its last digit)
    notes: list = field(default_factory=list)
    log_key: tuple = ()  # every metric of every epoch: identical logs, identical keys


def notebook_text(raw: str) -> str:
    """A notebook's cells and saved outputs, read from its JSON (never executed); a file
    that is not a notebook's JSON is read as it is."""
    join = lambda v: "".join(v) if isinstance(v, list) else str(v or "")  # noqa: E731
    try:
        return "\n".join(join(part) for cell in json.loads(raw)["cells"] for part in (
            cell.get("source"), *(o.get("text") or o.get("data", {}).get("text/plain")
                                  for o in cell.get("outputs", []))))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return raw


def _runs(text: str) -> list[list[Epoch]]:
    """The printed epochs, in runs: a run ends where the count restarts. The first val
    accuracy after "Epoch n/N" is that epoch's, and its line ends the epoch."""
    marks, runs = list(EPOCH.finditer(text)), []
    for m, stop in zip(marks, [k.start() for k in marks[1:]] + [len(text)]):
        val = VAL.search(text, m.end(), stop)
        end = text.find("\n", val.end(), stop) if val else m.end()
        end = stop if end < 0 else end
        begin = max(text.rfind("\n", 0, val.start()) + 1, m.end()) if val else end
        epoch = Epoch(m.start(), int(m[1]), int(m[2]), val and float(val[1]), end,
                      tuple(METRIC.findall(text, begin, end)))  # fmt: skip
        if not runs or epoch.number <= runs[-1][-1].number or epoch.of != runs[-1][-1].of:
            runs.append([])
        runs[-1].append(epoch)
    return runs


def _choose(text: str, runs: list, evaluations: list[int]) -> tuple[int, str]:
    """The run the hand-in presents as its result (its index), and how that was told."""
    done = [
        i for i, r in enumerate(runs) if [e.number for e in r] == [*range(1, r[0].of + 1)]
    ]
    done = done or list(range(len(runs)))
    for heading in reversed(list(RESULT_HEADING.finditer(text))):
        under = [i for i in done if runs[i][0].start > heading.start()]
        if under:
            return under[0], f"the one under {heading[1].strip(' *#')!r}"
    before = {
        max((i for i in done if runs[i][-1].end <= p), default=-1) for p in evaluations
    }
    if len(before - {-1}) == 1:
        return max(before), "the complete log before the evaluate line"
    if len(done) == 1:
        return done[0], "the only complete log"
    return done[-1], "cannot tell which is the result; took the last complete one"


def _half_digit(written: str, shift: int = 0) -> float:
    """Half the last digit written (Keras logs 4 decimals): a rounded claim is no lie."""
    return max(0.5 * 10.0 ** -(len(written.split(".")[1]) + shift), 5e-5)


def audit(text: str) -> Audit:
    """What the text shows of the run it presents as its result; empty ``val``: no log."""
    text = re.sub(r"</?br\s*/?>", "\n", text.replace("\r", "\n"), flags=re.I)
    text = text.replace("│", " ").replace("┃", " ")  # Keras 3 draws its summary in boxes
    runs = _runs(text)
    if not runs:
        return Audit()
    outside = lambda m: not any(r[0].start <= m.start() < r[-1].end for r in runs)  # noqa: E731
    evaluated = [m for m in EVALUATED.finditer(text) if outside(m)]
    i, how = _choose(text, runs, [m.start() for m in evaluated]) if runs[1:] else (0, "")
    run, lo = runs[i], runs[i - 1][-1].end if i else 0
    hi = runs[i + 1][0].start if i + 1 < len(runs) else len(text)
    found = Audit([e.val for e in run], max(run[0].of, len(run)), log_key=tuple(e.metrics for e in run))  # fmt: skip
    found.notes = [f"run {i + 1} of {len(runs)} taken: {how}"] if how else []
    found.claims = [(m[1], float(m[1]), _half_digit(m[1])) for m in evaluated if lo <= m.start() < hi]  # fmt: skip
    for m in PERCENT.finditer(text, lo, hi):
        line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end())]
        if CLAIM_LINE.match(line) and outside(m) and m[1].rstrip("0") != TARGET:
            found.claims.append((m[0].strip(), float(m[1]) / 100, _half_digit(m[1], 2)))
    _read_params(found, text[lo:hi], run[0].start - lo)
    if found.params is None:  # one summary for several runs
        _read_params(found, text, run[0].start)
    return found


def _read_params(found: Audit, text: str, run_start: int) -> None:
    """The summary nearest before the run (else after it), else a count said in prose."""
    blocks, rows, pos = [], [], 0
    for line in text.split("\n"):
        if row := ROW.match(line):
            shape = [int(d) for d in row[3].split(",")[1:]]
            rows.append((row[1], (row[2] or row[1]).lower(), shape, int(row[4].replace(",", ""))))  # fmt: skip
        elif total := TOTAL.search(line):
            blocks.append((pos, int(total[1].replace(",", "")), rows))
            rows = []
        elif (extra := OPTIMIZER.search(line)) and blocks:  # not the model's: its total's
            start, total, shown = blocks[-1]
            blocks[-1] = (start, total - int(extra[1].replace(",", "")), shown)
        pos += len(line) + 1
    if not blocks:
        for m in PARAMS_SAID.finditer(text):  # the last count said is taken
            at = m.start(1) if m[1] else m.start(3)  # "within 15k parameters": the limit
            if not A_LIMIT.search(text[max(0, at - 20) : at]):
                number, k = (m[1], m[2]) if m[1] else (m[3], m[4])
                found.params = round(float(number.replace(",", "")) * (1000 if k else 1))
                found.params_from = "prose"
        return
    shown = [b for b in blocks if b[2]]
    before = [b for b in shown if b[0] < run_start]
    _, found.params, rows = (before[-1:] or shown[:1] or blocks[-1:])[0]
    found.params_from, found.layers_shown, c_in = "summary", bool(rows), 1
    for name, kind, shape, params in rows:
        k2 = (params - shape[-1]) / (c_in * shape[-1] or 1)  # k*k if one bias a channel
        if kind.startswith("conv") and k2 >= 1 and math.isqrt(int(k2)) ** 2 == k2:
            found.biased.append(name)  # (without biases, params / (c_in * c_out) is k*k)
        if kind.startswith("dense"):
            found.dense.append(name)
        if params and not kind.startswith("batc"):
            found.architecture += (f"{kind[:4]}:{'x'.join(map(str, shape))}",)
        c_in = shape[-1]
