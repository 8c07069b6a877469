"""The notebook-02 checkers accept the reference and name the mistake in typical wrong versions."""

import torch

from torch import nn

from bert_edu.exercises.embeddings import (check_bert_embeddings, check_embedding_parameters, check_layer_norm,
                                           reference_layer_norm)
from bert_edu.model.embeddings import BertEmbeddings
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


def test_embedding_parameters(capsys):
    assert_checker_passes(check_embedding_parameters, lambda v, h, m, t: (v + m + t) * h + 2 * h, capsys)
    assert_checker_fails(check_embedding_parameters, lambda v, h, m, t: (v + m + t) * h, capsys,
                         hint="gamma and beta")
    assert_checker_fails(check_embedding_parameters, lambda v, h, m, t: v * h + 2 * h, capsys,
                         hint="position and segment")


class LearnerEmbeddings(nn.Module):
    """What a learner writes in notebook 02 (no position_ids buffer, positions made in forward)."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def positions(self, input_ids):
        return self.position_embeddings(torch.arange(input_ids.shape[1]))

    def forward(self, input_ids, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.positions(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


def test_bert_embeddings_accepts_the_reference_and_a_learners_version(capsys):
    assert_checker_passes(check_bert_embeddings, BertEmbeddings, capsys)
    assert_checker_passes(check_bert_embeddings, LearnerEmbeddings, capsys)


def test_bert_embeddings_names_typical_mistakes(capsys):
    class NoPositions(LearnerEmbeddings):
        def positions(self, input_ids):
            return 0

    class PositionsFromIds(LearnerEmbeddings):
        def positions(self, input_ids):
            return self.position_embeddings(input_ids.clamp(max=self.position_embeddings.num_embeddings - 1))

    class DropoutFirst(LearnerEmbeddings):
        def forward(self, input_ids, token_type_ids=None):
            x = self.word_embeddings(input_ids) + self.positions(input_ids)
            return self.LayerNorm(self.dropout(x + self.token_type_embeddings(token_type_ids)))

    class OwnNames(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.tokens = nn.Embedding(config.vocab_size, config.hidden_size)
            self.norm = nn.LayerNorm(config.hidden_size)

        def forward(self, input_ids, token_type_ids=None):
            return self.norm(self.tokens(input_ids))

    class NoPaddingIdx(LearnerEmbeddings):
        def __init__(self, config):
            super().__init__(config)
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)

    assert_checker_fails(check_bert_embeddings, NoPositions, capsys, hint="position embeddings are missing")
    assert_checker_fails(check_bert_embeddings, PositionsFromIds, capsys, hint="not the token ids")
    assert_checker_fails(check_bert_embeddings, DropoutFirst, capsys, hint="after LayerNorm")
    assert_checker_fails(check_bert_embeddings, OwnNames, capsys, hint="names differ from transformers'")
    assert_checker_fails(check_bert_embeddings, NoPaddingIdx, capsys, hint="padding_idx=config.pad_token_id")
