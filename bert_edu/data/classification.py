"""Text-classification data from your own files: a TSV or CSV with a header row (notebook 08, and
``python -m bert_edu.finetune``).

By default the columns are ``text`` and ``label``; other names are passed as ``text_column`` /
``label_column`` (``--text-column`` / ``--label-column`` on the command line). Labels can be anything
written in a cell (``pos``/``neg``, ``0``/``1``, ``1``...``5`` stars, ``sports``...): they are mapped to ids
0, 1, 2, ... in a fixed order, and the names travel with the saved model, so a prediction says
``positive``, not ``LABEL_1``.

Every problem a file can have is found here, before a model is loaded or a step is trained, and the
error says what is wrong and how to fix it::

    load_classification_data("train.csv", "dev.csv")   # -> ClassificationData(train, eval, test, label_names)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


class Example(NamedTuple):
    """One labelled text: ``label`` is an index into the task's label names."""
    text: str
    label: int


class DataError(ValueError):
    """A data file cannot be used; the message names the file, the problem and the fix."""


def _delimiter(path: Path, header_line: str) -> str:
    """Tab for .tsv/.tab files, comma for .csv; for any other name, whichever the header line holds."""
    suffix = path.suffix.lower()
    if suffix in {".tsv", ".tab"}:
        return "\t"
    if suffix == ".csv":
        return ","
    return "\t" if "\t" in header_line else ","


def read_labelled_file(path, text_column: str = "text", label_column: str = "label") -> list[tuple[str, str]]:
    """(text, label) pairs from a TSV/CSV file with a header. Labels are kept as the strings in the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist (or is not a file); pass the path of a TSV or CSV file")
    # utf-8-sig: a byte-order mark written by a spreadsheet program must not become part of the first column name
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            content = f.read()
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 "
                        "(e.g. your spreadsheet's 'CSV UTF-8' format, or iconv -t UTF-8)") from None
    if not content.strip():
        raise DataError(f"{path} is empty; it needs a header row (e.g. '{text_column},{label_column}') "
                        "and one example per row")
    delimiter = _delimiter(path, content.splitlines()[0])
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        kind = "tab" if delimiter == "\t" else "comma"
        raise DataError(
            f"{path} has no column {' or '.join(repr(c) for c in missing)}; its header ({kind}-separated) "
            f"has the columns {columns}. Name the right ones with --text-column / --label-column "
            f"(text_column= / label_column= in Python)")
    pairs = []
    for row in reader:
        text = " ".join((row.get(text_column) or "").split())
        label = (row.get(label_column) or "").strip()
        if not text and not label:
            continue  # a blank line, e.g. at the end of the file
        line = reader.line_num
        if not text:
            raise DataError(f"{path}, line {line}: the {text_column!r} cell is empty; remove the row or fill it in")
        if not label:
            raise DataError(f"{path}, line {line}: the {label_column!r} cell is empty; every example needs a label")
        pairs.append((text, label))
    if not pairs:
        raise DataError(f"{path} has a header but no examples; add one row per example below the header")
    return pairs


def _sort_key(label: str):
    """Numbers sort as numbers (so '2' < '10'), and come before words; words sort alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def label_names_from(labels, path="the training file") -> list[str]:
    """The distinct labels in a fixed order (id = position). At least two are needed to classify."""
    names = sorted(set(labels), key=_sort_key)
    if len(names) < 2:
        only = f" (every example is {names[0]!r})" if names else ""
        raise DataError(f"{path} has a single class{only}; a classifier needs examples of at least two labels")
    return names


def to_examples(pairs, label_names, path="the file") -> list[Example]:
    """Map label strings to ids; a label the model was not trained on is an error, never a silent guess."""
    label2id = {name: i for i, name in enumerate(label_names)}
    unseen = sorted({label for _, label in pairs if label not in label2id}, key=_sort_key)
    if unseen:
        raise DataError(f"{path} has the label(s) {unseen}, never seen in the training data (whose labels "
                        f"are {list(label_names)}); the model cannot predict them. Fix the labels or "
                        "add training examples of them")
    return [Example(text, label2id[label]) for text, label in pairs]


@dataclass
class ClassificationData:
    train: list[Example]
    eval: list[Example]
    test: list[Example] | None
    label_names: list[str]


def load_classification_data(train_path, eval_path, test_path=None, text_column: str = "text",
                             label_column: str = "label") -> ClassificationData:
    """Read and check the training, evaluation and (optional) test files; label ids from the training file."""
    train_pairs = read_labelled_file(train_path, text_column, label_column)
    names = label_names_from([label for _, label in train_pairs], train_path)
    train = to_examples(train_pairs, names, train_path)
    evaluation = to_examples(read_labelled_file(eval_path, text_column, label_column), names, eval_path)
    test = None
    if test_path is not None:
        test = to_examples(read_labelled_file(test_path, text_column, label_column), names, test_path)
    return ClassificationData(train, evaluation, test, names)


def write_labelled_file(path, examples, label_names, text_column: str = "text", label_column: str = "label"):
    """Write examples as a TSV/CSV file with a header (the delimiter follows the file name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    delimiter = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow([text_column, label_column])
        for ex in examples:
            writer.writerow([ex.text, label_names[ex.label]])
    return path
