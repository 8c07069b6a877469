"""The notebook-03 checkers accept the reference and name the mistake in typical wrong versions."""

import math

import torch

from bert_edu.exercises.attention import (check_attention, check_attention_memory, check_merge_heads,
                                          check_split_heads, reference_attention)
from exercise_helpers import assert_checker_fails, assert_checker_passes


def my_attention(query, key, value, mask=None):
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


def test_attention_accepts_correct_versions(capsys):
    assert_checker_passes(check_attention, my_attention, capsys)
    assert_checker_passes(check_attention, reference_attention, capsys)


def test_attention_names_typical_mistakes(capsys):
    def mask_after_softmax(query, key, value, mask=None):
        weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1]), dim=-1)
        if mask is not None:
            weights = weights * mask
        return weights @ value, weights

    def scale_by_T(query, key, value, mask=None):
        scores = query @ key.transpose(-2, -1) / math.sqrt(key.shape[-2])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        weights = torch.softmax(scores, dim=-1)
        return weights @ value, weights

    def no_scale(query, key, value, mask=None):
        scores = query @ key.transpose(-2, -1)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        weights = torch.softmax(scores, dim=-1)
        return weights @ value, weights

    def wrong_axis(query, key, value, mask=None):
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        weights = torch.softmax(scores, dim=-2)
        return weights @ value, weights

    def naive_exp(query, key, value, mask=None):  # unstable softmax: overflows on large scores
        scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        e = scores.exp()
        weights = e / e.sum(-1, keepdim=True)
        return weights @ value, weights

    assert_checker_fails(check_attention, mask_after_softmax, capsys, hint="before the softmax")
    assert_checker_fails(check_attention, scale_by_T, capsys, hint="not sqrt(T)")
    assert_checker_fails(check_attention, no_scale, capsys, hint="must be scaled")
    assert_checker_fails(check_attention, wrong_axis, capsys, hint="last axis")
    assert_checker_fails(check_attention, naive_exp, capsys, hint="NaN or inf")


def test_split_and_merge_heads(capsys):
    def split(x, num_heads):
        b, t, h = x.shape
        return x.view(b, t, num_heads, h // num_heads).transpose(1, 2)

    def merge(x):
        b, n, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, n * d)

    assert_checker_passes(check_split_heads, split, capsys)
    assert_checker_passes(check_merge_heads, merge, capsys)

    def split_no_transpose(x, num_heads):
        b, t, h = x.shape
        return x.reshape(b, num_heads, t, h // num_heads)

    def split_interleaved(x, num_heads):
        b, t, h = x.shape
        return x.view(b, t, h // num_heads, num_heads).permute(0, 3, 1, 2)

    def merge_no_transpose(x):
        b, n, t, d = x.shape
        return x.reshape(b, t, n * d)

    assert_checker_fails(check_split_heads, split_no_transpose, capsys, hint="mixes different tokens")
    assert_checker_fails(check_split_heads, split_interleaved, capsys, hint="contiguous slice")
    def merge_features_first(x):
        b, n, t, d = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, t, n * d)

    assert_checker_fails(check_merge_heads, merge_no_transpose, capsys, hint="transpose heads and T back")
    assert_checker_fails(check_merge_heads, merge_features_first, capsys, hint="concatenate the heads")


def test_attention_memory(capsys):
    assert_checker_passes(check_attention_memory, lambda b, h, t, n: b * h * t * t * n, capsys)
    assert_checker_fails(check_attention_memory, lambda b, h, t, n: b * h * t * n, capsys, hint="T squared")
    assert_checker_fails(check_attention_memory, lambda b, h, t, n: b * t * t * n, capsys,
                         hint="number of heads")


# --- the modules of notebook 03 --------------------------------------------------------------------------

from torch import nn  # noqa: E402

from bert_edu.exercises.attention import (check_bert_attention, check_bert_self_attention,  # noqa: E402
                                          check_bert_self_output, check_causal_mask,
                                          reference_causal_attention_mask)
from bert_edu.model.attention import (BertAttention, BertSelfAttention, BertSelfOutput, merge_heads,  # noqa: E402
                                      split_heads)


class LearnerSelfAttention(nn.Module):
    """What a learner writes in notebook 03: the explicit formula, dropout on the weights."""

    scale = True
    softmax_dim = -1

    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        q, k, v = (split_heads(f(hidden_states), self.num_attention_heads) for f in (self.query, self.key, self.value))
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if self.scale else 1.0)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=self.softmax_dim)
        return merge_heads(self.dropout(weights) @ v), (weights if output_attentions else None)


def test_bert_self_attention_accepts_the_reference_and_a_learners_version(capsys):
    assert_checker_passes(check_bert_self_attention, BertSelfAttention, capsys)
    assert_checker_passes(check_bert_self_attention, LearnerSelfAttention, capsys)


def test_bert_self_attention_names_typical_mistakes(capsys):
    class NoScale(LearnerSelfAttention):
        scale = False

    class WrongAxis(LearnerSelfAttention):
        softmax_dim = -2

    class IgnoresMask(LearnerSelfAttention):
        def forward(self, hidden_states, mask=None, output_attentions=False):
            return super().forward(hidden_states, None, output_attentions)

    class HiddenDropout(LearnerSelfAttention):
        def __init__(self, config):
            super().__init__(config)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

    class OwnNames(LearnerSelfAttention):
        def __init__(self, config):
            super().__init__(config)
            self.q = self.query

    assert_checker_fails(check_bert_self_attention, NoScale, capsys, hint="sqrt(d_k)")
    assert_checker_fails(check_bert_self_attention, WrongAxis, capsys, hint="last axis")
    assert_checker_fails(check_bert_self_attention, IgnoresMask, capsys, hint="mask was not applied")
    assert_checker_fails(check_bert_self_attention, HiddenDropout, capsys, hint="attention_probs_dropout_prob")
    assert_checker_fails(check_bert_self_attention, OwnNames, capsys, hint="unexpected")


def test_bert_self_output(capsys):
    class PreLN(BertSelfOutput):
        def forward(self, hidden_states, input_tensor):
            return input_tensor + self.LayerNorm(self.dropout(self.dense(hidden_states)))

    class NoResidual(BertSelfOutput):
        def forward(self, hidden_states, input_tensor):
            return self.LayerNorm(self.dropout(self.dense(hidden_states)))

    class NoDropout(BertSelfOutput):
        def forward(self, hidden_states, input_tensor):
            return self.LayerNorm(self.dense(hidden_states) + input_tensor)

    assert_checker_passes(check_bert_self_output, BertSelfOutput, capsys)
    assert_checker_fails(check_bert_self_output, PreLN, capsys, hint="pre-LN")
    assert_checker_fails(check_bert_self_output, NoResidual, capsys, hint="residual is missing")
    assert_checker_fails(check_bert_self_output, NoDropout, capsys, hint="dropout")


def test_bert_attention(capsys):
    class ResidualFromContext(BertAttention):
        def forward(self, hidden_states, mask=None, output_attentions=False):
            context, weights = self.self(hidden_states, mask, output_attentions)
            return self.output(context, context), weights

    class DropsTheMask(BertAttention):
        def forward(self, hidden_states, mask=None, output_attentions=False):
            context, weights = self.self(hidden_states, None, output_attentions)
            return self.output(context, hidden_states), weights

    assert_checker_passes(check_bert_attention, BertAttention, capsys)
    assert_checker_fails(check_bert_attention, ResidualFromContext, capsys, hint="residual adds the layer's input")
    assert_checker_fails(check_bert_attention, DropsTheMask, capsys, hint="pass the mask on")


def test_causal_mask(capsys):
    def mine(attention_mask):
        t = attention_mask.shape[1]
        return torch.tril(torch.ones(t, t)).bool()[None, None] & (attention_mask[:, None, None, :] > 0)

    def future(attention_mask):
        t = attention_mask.shape[1]
        return torch.triu(torch.ones(t, t)).bool()[None, None] & (attention_mask[:, None, None, :] > 0)

    def no_diagonal(attention_mask):
        t = attention_mask.shape[1]
        return torch.tril(torch.ones(t, t), diagonal=-1).bool()[None, None] & (attention_mask[:, None, None, :] > 0)

    def no_padding(attention_mask):
        t = attention_mask.shape[1]
        return torch.tril(torch.ones(t, t)).bool()[None, None].expand(len(attention_mask), 1, t, t)

    def additive(attention_mask):
        return torch.zeros(mine(attention_mask).shape).masked_fill(~mine(attention_mask), -1e9)

    assert_checker_passes(check_causal_mask, mine, capsys)
    assert_checker_passes(check_causal_mask, reference_causal_attention_mask, capsys)
    assert_checker_fails(check_causal_mask, future, capsys, hint="must not see the FUTURE")
    assert_checker_fails(check_causal_mask, no_diagonal, capsys, hint="attend to itself")
    assert_checker_fails(check_causal_mask, no_padding, capsys, hint="combine with the padding mask")
    assert_checker_fails(check_causal_mask, additive, capsys, hint="boolean mask")


def test_attention_with_dropout_matches_the_package():
    """reference_attention (the fallback of the learner's attention) applies dropout like the package's formula."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=g) for _ in range(3))
    torch.manual_seed(1)
    out, w = reference_attention(q, k, v, None, nn.Dropout(0.5).train())
    torch.manual_seed(1)
    expected, expected_w = __import__("bert_edu.model.attention", fromlist=["x"]).scaled_dot_product_attention(
        q, k, v, None, 0.5, True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, expected_w)
