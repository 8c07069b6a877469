"""Every baseline of the course lives in ``bert_edu/evaluation/baselines.py`` (issue 24): what BERT must beat."""

from __future__ import annotations

import ast
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from bert_edu.evaluation.baselines import pretraining_baselines

PACKAGE = Path(__file__).resolve().parent.parent / "bert_edu"


def test_pretraining_baselines_by_hand():
    counts = Counter({5: 3, 6: 1})                      # token 5 is the most frequent of 4 training tokens
    got = pretraining_baselines(counts, torch.tensor([5, 6, 7]), torch.tensor([0, 0, 1]))
    assert got["mlm_top_token"] == 5
    assert got["mlm_accuracy"] == pytest.approx(1 / 3)
    # unigram loss: -(log 3/4 + log 1/4 + log 0.5/4) / 3, an unseen token counting as half an occurrence
    assert got["mlm_unigram_loss"] == pytest.approx(-(math.log(3 / 4) + math.log(1 / 4) + math.log(0.5 / 4)) / 3)
    assert got["nsp_accuracy"] == pytest.approx(2 / 3)


def test_pretraining_baselines_refuse_empty_targets():
    with pytest.raises(ValueError, match="at least one"):
        pretraining_baselines(Counter({1: 1}), torch.tensor([], dtype=torch.long), torch.tensor([0]))


def test_no_baseline_is_defined_outside_evaluation():
    """A function whose name says baseline is defined only in evaluation/baselines.py (the pretraining run's
    ``baselines`` wrapper only gathers the held-out targets and calls it)."""
    allowed = {("train/pretrain.py", "baselines"),
               ("analysis/attribution.py", "masked_baseline")}  # integrated gradients' reference input, not a yardstick
    stray = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "evaluation/baselines.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and "baseline" in node.name.lower():
                if (rel, node.name) not in allowed:
                    stray.append(f"{rel}:{node.lineno} {node.name}")
    assert not stray, f"baselines outside evaluation/baselines.py: {stray}"
