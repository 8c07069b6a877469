"""The notebook-07 checkers accept correct solutions and name the mistake in typical wrong versions."""

import math

import torch

from bert_edu.exercises.pretraining import (check_initial_losses, check_mask_rule, check_nsp_pair,
                                            reference_initial_losses, reference_mask_rule, reference_nsp_pair)
from exercise_helpers import assert_checker_fails, assert_checker_passes


def my_mask_rule(input_ids, selected, u, random_tokens, mask_id):
    masked = input_ids.clone()
    labels = torch.full_like(input_ids, -100)
    labels[selected] = input_ids[selected]
    masked[selected & (u < 0.8)] = mask_id
    swap = selected & (u >= 0.8) & (u < 0.9)
    masked[swap] = random_tokens[swap]
    return masked, labels


def test_mask_rule(capsys):
    assert_checker_passes(check_mask_rule, my_mask_rule, capsys)
    assert_checker_passes(check_mask_rule, reference_mask_rule, capsys)

    def all_mask(input_ids, selected, u, random_tokens, mask_id):
        masked, labels = my_mask_rule(input_ids, selected, torch.zeros_like(u), random_tokens, mask_id)
        return masked, labels

    def labels_only_where_masked(input_ids, selected, u, random_tokens, mask_id):
        masked, _ = my_mask_rule(input_ids, selected, u, random_tokens, mask_id)
        return masked, torch.where(masked == mask_id, input_ids, torch.full_like(input_ids, -100))

    def in_place(input_ids, selected, u, random_tokens, mask_id):
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        input_ids[selected & (u < 0.8)] = mask_id
        swap = selected & (u >= 0.8) & (u < 0.9)
        input_ids[swap] = random_tokens[swap]
        return input_ids, labels

    assert_checker_fails(check_mask_rule, all_mask, capsys, hint="only 80%")
    assert_checker_fails(check_mask_rule, labels_only_where_masked, capsys, hint="every selected position")
    assert_checker_fails(check_mask_rule, in_place, capsys, hint="in place")


def my_nsp_pair(documents, doc_index, rng):
    doc = documents[doc_index]
    k = rng.randint(0, len(doc) - 2)
    if rng.random() < 0.5:
        return doc[k], doc[k + 1], 0
    others = [i for i in range(len(documents)) if i != doc_index]
    return doc[k], rng.choice(documents[rng.choice(others)]), 1


def test_nsp_pair(capsys):
    assert_checker_passes(check_nsp_pair, my_nsp_pair, capsys)
    assert_checker_passes(check_nsp_pair, reference_nsp_pair, capsys)

    def same_document(documents, doc_index, rng):
        a, b, label = my_nsp_pair(documents, doc_index, rng)
        return (a, rng.choice(documents[doc_index]), 1) if label == 1 else (a, b, 0)

    def swapped_labels(documents, doc_index, rng):
        a, b, label = my_nsp_pair(documents, doc_index, rng)
        return a, b, 1 - label

    def always_next(documents, doc_index, rng):
        doc = documents[doc_index]
        k = rng.randint(0, len(doc) - 2)
        return doc[k], doc[k + 1], 0

    assert_checker_fails(check_nsp_pair, same_document, capsys, hint="another document")
    assert_checker_fails(check_nsp_pair, swapped_labels, capsys, hint="swapped")
    assert_checker_fails(check_nsp_pair, always_next, capsys, hint="fair coin")


def test_initial_losses(capsys):
    assert_checker_passes(check_initial_losses, reference_initial_losses, capsys)
    assert_checker_passes(check_initial_losses, lambda v: (math.log(v), math.log(2)), capsys)
    assert_checker_fails(check_initial_losses, lambda v: (1 / v, 0.5), capsys, hint="not a probability")
    assert_checker_fails(check_initial_losses, lambda v: (math.log2(v), 1.0), capsys, hint="not log2")
    assert_checker_fails(check_initial_losses, lambda v: (math.log(v), 0.5), capsys)


def test_not_implemented_is_reported(capsys):
    def todo(*args):
        raise NotImplementedError()

    for check in (check_mask_rule, check_nsp_pair, check_initial_losses):
        assert check(todo) is False
        assert "not implemented yet" in capsys.readouterr().out
