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
