"""The notebook-04 checkers accept the reference and name the mistake in typical wrong versions."""

import math

import torch
import torch.nn.functional as F

from bert_edu.model.encoder import gelu, gelu_tanh
from bert_edu.exercises.encoder import (check_add_and_norm, check_feed_forward, check_gelu, check_layer_parameters,
                                        reference_layer_parameters)
from exercise_helpers import assert_checker_fails, assert_checker_passes


def test_gelu(capsys):
    assert_checker_passes(check_gelu, lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), capsys)
    assert_checker_passes(check_gelu, F.gelu, capsys)
    assert_checker_fails(check_gelu, gelu_tanh, capsys, hint="tanh approximation")
    assert_checker_fails(check_gelu, torch.relu, capsys, hint="ReLU")
    assert_checker_fails(check_gelu, lambda x: x * torch.sigmoid(1.702 * x), capsys, hint="1.702")


def test_feed_forward(capsys):
    def ffn(x, w1, b1, w2, b2):
        return (gelu(x @ w1.T + b1)) @ w2.T + b2

    assert_checker_passes(check_feed_forward, ffn, capsys)
    assert_checker_fails(check_feed_forward, lambda x, w1, b1, w2, b2: (x @ w1.T + b1) @ w2.T + b2, capsys,
                         hint="activation is missing")
    assert_checker_fails(check_feed_forward, lambda x, w1, b1, w2, b2: torch.relu(x @ w1.T + b1) @ w2.T + b2,
                         capsys, hint="not ReLU")
    assert_checker_fails(check_feed_forward, lambda x, w1, b1, w2, b2: x @ w1 @ w2, capsys)  # shape error


def test_add_and_norm(capsys):
    def post_ln(x, sub, gamma, beta, eps):
        return F.layer_norm(x + sub, x.shape[-1:], gamma, beta, eps)

    def pre_ln(x, sub, gamma, beta, eps):
        return x + F.layer_norm(sub, x.shape[-1:], gamma, beta, eps)

    assert_checker_passes(check_add_and_norm, post_ln, capsys)
    assert_checker_fails(check_add_and_norm, pre_ln, capsys, hint="pre-LN")
    assert_checker_fails(check_add_and_norm, lambda x, sub, gamma, beta, eps: x + sub, capsys,
                         hint="LayerNorm is missing")


def test_layer_parameters(capsys):
    assert_checker_passes(check_layer_parameters, reference_layer_parameters, capsys)
    assert_checker_fails(check_layer_parameters, lambda h, i: 4 * h * h + 2 * h * i, capsys, hint="biases")
    assert_checker_fails(check_layer_parameters, lambda h, i: reference_layer_parameters(h, i) - 4 * h, capsys,
                         hint="LayerNorms")
