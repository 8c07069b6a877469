"""The notebook-05 checkers accept the reference and name the mistake in typical wrong versions."""

import torch

from bert_edu import BertModel
from bert_edu.exercises.model import check_mean_pooling, check_parameter_count, check_pooler
from exercise_helpers import assert_checker_fails, assert_checker_passes


def test_pooler(capsys):
    assert_checker_passes(check_pooler, lambda h, w, b: torch.tanh(h[:, 0] @ w.T + b), capsys)
    assert_checker_fails(check_pooler, lambda h, w, b: torch.tanh(h.mean(1) @ w.T + b), capsys, hint="position 0")
    assert_checker_fails(check_pooler, lambda h, w, b: h[:, 0] @ w.T + b, capsys, hint="tanh")
    assert_checker_fails(check_pooler, lambda h, w, b: torch.tanh(h[:, 0] @ w + b), capsys, hint="transpose")


def test_mean_pooling(capsys):
    def mine(h, mask):
        m = mask[..., None].float()
        return (h * m).sum(1) / m.sum(1)

    assert_checker_passes(check_mean_pooling, mine, capsys)
    assert_checker_fails(check_mean_pooling, lambda h, mask: h.mean(1), capsys, hint="padding positions")
    assert_checker_fails(check_mean_pooling, lambda h, mask: (h * mask[..., None]).sum(1) / h.shape[1], capsys,
                         hint="not by T")


def test_parameter_count(capsys):
    def by_building(config):  # a legitimate answer: build it and count
        return sum(p.numel() for p in BertModel(config).parameters())

    def formula(c):
        h, i = c.hidden_size, c.intermediate_size
        emb = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size + 2) * h
        layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h
        return emb + c.num_hidden_layers * layer + h * h + h

    assert_checker_passes(check_parameter_count, formula, capsys)
    assert_checker_passes(check_parameter_count, by_building, capsys)
    assert_checker_fails(check_parameter_count, lambda c: formula(c) - c.hidden_size ** 2 - c.hidden_size, capsys,
                         hint="pooler")
    assert_checker_fails(check_parameter_count,
                         lambda c: formula(c) - (c.max_position_embeddings + c.type_vocab_size) * c.hidden_size,
                         capsys, hint="position and segment")
