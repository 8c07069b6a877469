"""Each notebook-06 checker passes the reference and fails, with the right hint, on typical mistakes."""

import math

import torch
from exercise_helpers import assert_checker_fails, assert_checker_passes

from bert_edu.course import viz
from bert_edu.exercises import attention_maps as ex

# --- previous_token_head -------------------------------------------------------------------------


def test_previous_token_head_reference_passes(capsys):
    assert_checker_passes(ex.check_previous_token_head, ex.reference_previous_token_head, capsys)


def test_previous_token_head_learner_style_solution_passes(capsys):
    def previous_token_head(attn):
        n_layers, n_heads, T, _ = attn.shape
        scores = torch.stack([attn[:, :, i, i - 1] for i in range(1, T)], dim=-1).mean(-1)
        best = int(scores.argmax())
        return best // n_heads, best % n_heads

    assert_checker_passes(ex.check_previous_token_head, previous_token_head, capsys)


def test_previous_token_head_next_token_fails(capsys):
    def next_token(attn):
        layer, head, _ = viz.top_heads(viz.offset_attention(attn, +1), k=1)[0]
        return layer, head

    assert_checker_fails(ex.check_previous_token_head, next_token, capsys, hint="next-token head")


def test_previous_token_head_diagonal_fails(capsys):
    def diagonal(attn):
        layer, head, _ = viz.top_heads(viz.offset_attention(attn, 0), k=1)[0]
        return layer, head

    assert_checker_fails(ex.check_previous_token_head, diagonal, capsys, hint="attends to itself")


def test_previous_token_head_swapped_fails(capsys):
    def swapped(attn):
        layer, head = ex.reference_previous_token_head(attn)
        return head, layer

    assert_checker_fails(ex.check_previous_token_head, swapped, capsys, hint="swapped")


def test_previous_token_head_wrong_type_fails(capsys):
    def flat_index(attn):
        return int(viz.offset_attention(attn, -1).flatten().argmax())

    assert_checker_fails(ex.check_previous_token_head, flat_index, capsys, hint="return a pair (layer, head)")


# --- head_entropy --------------------------------------------------------------------------------


def test_head_entropy_reference_passes(capsys):
    assert_checker_passes(ex.check_head_entropy, ex.reference_head_entropy, capsys)


def test_head_entropy_clamped_log_passes(capsys):
    def clamped(attn):
        return -(attn * attn.clamp_min(1e-12).log()).sum(-1).mean(-1)

    assert_checker_passes(ex.check_head_entropy, clamped, capsys)


def test_head_entropy_bits_fails(capsys):
    def bits(attn):
        return -(attn * attn.clamp_min(1e-12).log2()).sum(-1).mean(-1)

    assert_checker_fails(ex.check_head_entropy, bits, capsys, hint="not log2")


def test_head_entropy_sum_over_queries_fails(capsys):
    def summed(attn):
        return -(attn * attn.clamp_min(1e-12).log()).sum(-1).sum(-1)

    assert_checker_fails(ex.check_head_entropy, summed, capsys, hint="do not sum them")


def test_head_entropy_of_the_mean_row_fails(capsys):
    def mean_row_first(attn):
        p = attn.mean(-2)
        return -(p * p.clamp_min(1e-12).log()).sum(-1)

    assert_checker_fails(ex.check_head_entropy, mean_row_first, capsys, hint="average row")


def test_head_entropy_nan_fails(capsys):
    def naive(attn):
        return -(attn * attn.log()).sum(-1).mean(-1)

    assert_checker_fails(ex.check_head_entropy, naive, capsys, hint="0 * log(0)")


def test_head_entropy_uniform_is_log_T():
    assert math.isclose(float(ex.reference_head_entropy(torch.full((7, 7), 1 / 7))), math.log(7), rel_tol=1e-6)


# --- mask_head -----------------------------------------------------------------------------------


def test_mask_head_reference_passes(capsys):
    assert_checker_passes(ex.check_mask_head, ex.reference_mask_head, capsys)


def test_mask_head_view_solution_passes(capsys):
    def by_view(context, head, num_heads):
        out = context.clone().view(*context.shape[:-1], num_heads, -1)
        out[..., head, :] = 0
        return out.view(context.shape)

    assert_checker_passes(ex.check_mask_head, by_view, capsys)


def test_mask_head_interleaved_fails(capsys):
    def interleaved(context, head, num_heads):
        out = context.clone().view(*context.shape[:-1], -1, num_heads)
        out[..., head] = 0
        return out.view(context.shape)

    assert_checker_fails(ex.check_mask_head, interleaved, capsys, hint="contiguous features")


def test_mask_head_keep_only_fails(capsys):
    def keep_only(context, head, num_heads):
        width = context.shape[-1] // num_heads
        out = torch.zeros_like(context)
        out[..., head * width:(head + 1) * width] = context[..., head * width:(head + 1) * width]
        return out

    assert_checker_fails(ex.check_mask_head, keep_only, capsys, hint="not the other way round")


def test_mask_head_in_place_fails(capsys):
    def in_place(context, head, num_heads):
        width = context.shape[-1] // num_heads
        context[..., head * width:(head + 1) * width] = 0
        return context

    assert_checker_fails(ex.check_mask_head, in_place, capsys, hint="changed its input")


def test_mask_head_width_one_fails(capsys):
    def one_feature(context, head, num_heads):
        out = context.clone()
        out[..., head] = 0
        return out

    assert_checker_fails(ex.check_mask_head, one_feature, capsys, hint="width head_dim")
