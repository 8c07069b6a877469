"""The notebook-02 checkers accept the reference and name the mistake in typical wrong versions."""

import torch

from bert_edu.exercises.embeddings import (check_embedding_parameters, check_embeddings, check_layer_norm,
                                           reference_embed, reference_layer_norm)
from exercise_helpers import assert_checker_fails, assert_checker_passes


def my_layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def test_layer_norm(capsys):
    assert_checker_passes(check_layer_norm, my_layer_norm, capsys)
    assert_checker_passes(check_layer_norm, reference_layer_norm, capsys)

    def unbiased(x, gamma, beta, eps):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * gamma + beta

    def eps_outside(x, gamma, beta, eps):
        return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + eps) * gamma + beta

    def no_gamma(x, gamma, beta, eps):
        return my_layer_norm(x, torch.ones_like(gamma), torch.zeros_like(beta), eps)

    assert_checker_fails(check_layer_norm, unbiased, capsys, hint="biased one")
    assert_checker_fails(check_layer_norm, eps_outside, capsys, hint="inside the square root")
    assert_checker_fails(check_layer_norm, no_gamma, capsys, hint="multiply by gamma")


def my_embed(input_ids, token_type_ids, word, pos, types, gamma, beta, eps):
    x = word[input_ids] + pos[: input_ids.shape[1]] + types[token_type_ids]
    return my_layer_norm(x, gamma, beta, eps)


def test_embeddings(capsys):
    assert_checker_passes(check_embeddings, my_embed, capsys)
    assert_checker_passes(check_embeddings, reference_embed, capsys)

    def no_positions(input_ids, token_type_ids, word, pos, types, gamma, beta, eps):
        return my_layer_norm(word[input_ids] + types[token_type_ids], gamma, beta, eps)

    def no_norm(input_ids, token_type_ids, word, pos, types, gamma, beta, eps):
        return word[input_ids] + pos[: input_ids.shape[1]] + types[token_type_ids]

    def no_segments(input_ids, token_type_ids, word, pos, types, gamma, beta, eps):
        return my_layer_norm(word[input_ids] + pos[: input_ids.shape[1]], gamma, beta, eps)

    assert_checker_fails(check_embeddings, no_positions, capsys, hint="position embeddings are missing")
    assert_checker_fails(check_embeddings, no_norm, capsys, hint="LayerNorm is missing")
    assert_checker_fails(check_embeddings, no_segments, capsys, hint="segment")


def test_embedding_parameters(capsys):
    assert_checker_passes(check_embedding_parameters, lambda v, h, m, t: (v + m + t) * h + 2 * h, capsys)
    assert_checker_fails(check_embedding_parameters, lambda v, h, m, t: (v + m + t) * h, capsys,
                         hint="gamma and beta")
    assert_checker_fails(check_embedding_parameters, lambda v, h, m, t: v * h + 2 * h, capsys,
                         hint="position and segment")
