"""The notebook-04 checkers accept the reference and name the mistake in typical wrong versions."""

import math

import torch
import torch.nn.functional as F

from torch import nn

from bert_edu.exercises.encoder import (check_bert_encoder, check_bert_intermediate, check_bert_layer,
                                        check_bert_output, check_gelu, check_layer_parameters, check_pre_ln_sublayer,
                                        reference_layer_parameters, reference_pre_ln_sublayer)
from bert_edu.model.activations import gelu_tanh
from bert_edu.model.encoder import BertEncoder, BertIntermediate, BertLayer, BertOutput
from exercise_helpers import assert_checker_fails, assert_checker_passes


def test_gelu(capsys):
    assert_checker_passes(check_gelu, lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))), capsys)
    assert_checker_passes(check_gelu, F.gelu, capsys)
    assert_checker_fails(check_gelu, gelu_tanh, capsys, hint="tanh approximation")
    assert_checker_fails(check_gelu, torch.relu, capsys, hint="ReLU")
    assert_checker_fails(check_gelu, lambda x: x * torch.sigmoid(1.702 * x), capsys, hint="1.702")


def test_layer_parameters(capsys):
    assert_checker_passes(check_layer_parameters, reference_layer_parameters, capsys)
    assert_checker_fails(check_layer_parameters, lambda h, i: 4 * h * h + 2 * h * i, capsys, hint="biases")
    assert_checker_fails(check_layer_parameters, lambda h, i: reference_layer_parameters(h, i) - 4 * h, capsys,
                         hint="LayerNorms")


def test_pre_ln_sublayer(capsys):
    def mine(x, sublayer, gamma, beta, eps):
        return x + sublayer(F.layer_norm(x, x.shape[-1:], gamma, beta, eps))

    def post_ln(x, sublayer, gamma, beta, eps):
        return F.layer_norm(x + sublayer(x), x.shape[-1:], gamma, beta, eps)

    def norm_after(x, sublayer, gamma, beta, eps):
        return x + F.layer_norm(sublayer(x), x.shape[-1:], gamma, beta, eps)

    assert_checker_passes(check_pre_ln_sublayer, mine, capsys)
    assert_checker_passes(check_pre_ln_sublayer, reference_pre_ln_sublayer, capsys)
    assert_checker_fails(check_pre_ln_sublayer, post_ln, capsys, hint="BERT's post-LN")
    assert_checker_fails(check_pre_ln_sublayer, norm_after, capsys, hint="not its output")
    assert_checker_fails(check_pre_ln_sublayer, lambda x, sub, g, b, e: sub(F.layer_norm(x, x.shape[-1:], g, b, e)),
                         capsys, hint="residual is missing")


# --- the modules of notebook 04 --------------------------------------------------------------------------

def test_bert_intermediate(capsys):
    class AlwaysGelu(BertIntermediate):
        def forward(self, hidden_states):
            return F.gelu(self.dense(hidden_states))

    class TanhGelu(BertIntermediate):
        def forward(self, hidden_states):
            return gelu_tanh(self.dense(hidden_states))

    class NoActivation(BertIntermediate):
        def forward(self, hidden_states):
            return self.dense(hidden_states)

    assert_checker_passes(check_bert_intermediate, BertIntermediate, capsys)
    assert_checker_fails(check_bert_intermediate, AlwaysGelu, capsys, hint="ACTIVATIONS[config.hidden_act]")
    assert_checker_fails(check_bert_intermediate, TanhGelu, capsys, hint="tanh approximation")
    assert_checker_fails(check_bert_intermediate, NoActivation, capsys, hint="activation is missing")


def test_bert_output(capsys):
    class PreLN(BertOutput):
        def forward(self, hidden_states, input_tensor):
            return input_tensor + self.LayerNorm(self.dropout(self.dense(hidden_states)))

    class NoNorm(BertOutput):
        def forward(self, hidden_states, input_tensor):
            return self.dropout(self.dense(hidden_states)) + input_tensor

    class Wrong_sizes(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size)

    assert_checker_passes(check_bert_output, BertOutput, capsys)
    assert_checker_fails(check_bert_output, PreLN, capsys, hint="pre-LN")
    assert_checker_fails(check_bert_output, NoNorm, capsys, hint="LayerNorm is missing")
    assert_checker_fails(check_bert_output, Wrong_sizes, capsys, hint="stores its weight as (out, in)")


def test_bert_layer(capsys):
    class ResidualFromInput(BertLayer):
        def forward(self, hidden_states, mask=None, output_attentions=False):
            a, weights = self.attention(hidden_states, mask, output_attentions)
            return self.output(self.intermediate(a), hidden_states), weights

    class NoFeedForward(BertLayer):
        def forward(self, hidden_states, mask=None, output_attentions=False):
            return self.attention(hidden_states, mask, output_attentions)

    assert_checker_passes(check_bert_layer, BertLayer, capsys)
    assert_checker_fails(check_bert_layer, ResidualFromInput, capsys, hint="not the layer's input")
    assert_checker_fails(check_bert_layer, NoFeedForward, capsys, hint="feed-forward sub-layer is missing")


def test_bert_encoder(capsys):
    class SharedLayer(BertEncoder):
        def __init__(self, config):
            super().__init__(config)
            self.layer = nn.ModuleList([self.layer[0]] * config.num_hidden_layers)

    class EveryLayerOnTheInput(BertEncoder):
        def forward(self, hidden_states, mask=None, output_attentions=False, output_hidden_states=False):
            out = hidden_states
            for layer in self.layer:
                out, _ = layer(hidden_states, mask)
            return out, None, None

    class NoInputInHiddenStates(BertEncoder):
        def forward(self, hidden_states, mask=None, output_attentions=False, output_hidden_states=False):
            last, hidden, weights = super().forward(hidden_states, mask, output_attentions, output_hidden_states)
            return last, hidden[1:] if hidden else None, weights

    assert_checker_passes(check_bert_encoder, BertEncoder, capsys)
    assert_checker_fails(check_bert_encoder, SharedLayer, capsys, hint="its own weights")
    assert_checker_fails(check_bert_encoder, EveryLayerOnTheInput, capsys, hint="previous layer's output")
    assert_checker_fails(check_bert_encoder, NoInputInHiddenStates, capsys, hint="start with the input")
