"""The notebook-08 checkers accept correct versions and name the mistake in typical wrong ones."""

import math

import torch

from bert_edu.exercises.finetune import (check_classification_head, check_dynamic_padding, check_initial_loss,
                                         reference_classification_head, reference_dynamic_padding,
                                         reference_initial_loss)
from exercise_helpers import assert_checker_fails, assert_checker_passes

# ------------------------------------------------------------------------------------- classification head


def my_head(last_hidden_state, pooler_dense, dropout, classifier):
    cls = last_hidden_state[:, 0, :]
    return classifier(dropout(pooler_dense(cls).tanh()))


def test_classification_head_accepts_correct_versions(capsys):
    assert_checker_passes(check_classification_head, reference_classification_head, capsys)
    assert_checker_passes(check_classification_head, my_head, capsys)


def test_classification_head_names_typical_mistakes(capsys):
    def mean_pooling(h, dense, dropout, classifier):
        return classifier(dropout(torch.tanh(dense(h.mean(dim=1)))))

    def no_tanh(h, dense, dropout, classifier):
        return classifier(dropout(dense(h[:, 0])))

    def no_dropout(h, dense, dropout, classifier):
        return classifier(torch.tanh(dense(h[:, 0])))

    def dropout_too_early(h, dense, dropout, classifier):
        return classifier(torch.tanh(dense(dropout(h[:, 0]))))

    def softmaxed(h, dense, dropout, classifier):
        return torch.softmax(classifier(dropout(torch.tanh(dense(h[:, 0])))), dim=-1)

    assert_checker_fails(check_classification_head, mean_pooling, capsys, hint="not the mean over the tokens")
    assert_checker_fails(check_classification_head, no_tanh, capsys, hint="FOLLOWED by tanh")
    assert_checker_fails(check_classification_head, no_dropout, capsys, hint="was it left out?")
    assert_checker_fails(check_classification_head, dropout_too_early, capsys, hint="not to the [CLS] vector")
    assert_checker_fails(check_classification_head, softmaxed, capsys, hint="not probabilities")


# ------------------------------------------------------------------------------------- dynamic padding


def my_padding(sequences, pad_token_id=0):
    longest = max(len(s) for s in sequences)
    ids = [list(s) + [pad_token_id] * (longest - len(s)) for s in sequences]
    mask = [[1] * len(s) + [0] * (longest - len(s)) for s in sequences]
    return torch.tensor(ids), torch.tensor(mask)


def test_dynamic_padding_accepts_correct_versions(capsys):
    assert_checker_passes(check_dynamic_padding, reference_dynamic_padding, capsys)
    assert_checker_passes(check_dynamic_padding, my_padding, capsys)


def test_dynamic_padding_names_typical_mistakes(capsys):
    def left_padding(sequences, pad_token_id=0):
        longest = max(len(s) for s in sequences)
        ids = [[pad_token_id] * (longest - len(s)) + list(s) for s in sequences]
        mask = [[0] * (longest - len(s)) + [1] * len(s) for s in sequences]
        return torch.tensor(ids), torch.tensor(mask)

    def inverted_mask(sequences, pad_token_id=0):
        ids, mask = my_padding(sequences, pad_token_id)
        return ids, 1 - mask

    def always_zero(sequences, pad_token_id=0):
        return my_padding(sequences, 0)

    def fixed_length(sequences, pad_token_id=0):
        ids = [list(s) + [pad_token_id] * (16 - len(s)) for s in sequences]
        mask = [[1] * len(s) + [0] * (16 - len(s)) for s in sequences]
        return torch.tensor(ids), torch.tensor(mask)

    def float_mask(sequences, pad_token_id=0):
        ids, mask = my_padding(sequences, pad_token_id)
        return ids, mask.float()

    assert_checker_fails(check_dynamic_padding, left_padding, capsys, hint="pad on the right")
    assert_checker_fails(check_dynamic_padding, inverted_mask, capsys, hint="not the other way round")
    assert_checker_fails(check_dynamic_padding, always_zero, capsys, hint="not always 0")
    assert_checker_fails(check_dynamic_padding, fixed_length, capsys, hint="longest sequence of THIS batch")
    assert_checker_fails(check_dynamic_padding, float_mask, capsys, hint="torch.long")


# ------------------------------------------------------------------------------------- initial loss


def test_initial_loss_accepts_correct_versions(capsys):
    assert_checker_passes(check_initial_loss, reference_initial_loss, capsys)
    assert_checker_passes(check_initial_loss, lambda n: -math.log(1 / n), capsys)
    assert_checker_passes(check_initial_loss, lambda n: torch.tensor(float(n)).log(), capsys)


def test_initial_loss_names_typical_mistakes(capsys):
    def log2(num_labels):
        return math.log2(num_labels)

    def probability(num_labels):
        return 1 / num_labels

    def constant(num_labels):
        return 0.69

    assert_checker_fails(check_initial_loss, log2, capsys, hint="natural logarithm")
    assert_checker_fails(check_initial_loss, probability, capsys, hint="minus its logarithm")
    assert_checker_fails(check_initial_loss, constant, capsys)
