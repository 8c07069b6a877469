"""The notebook-05 checkers accept the reference and name the mistake in typical wrong versions."""

import torch

from bert_edu import BertModel
from torch import nn

from bert_edu.exercises.model import check_bert_model, check_bert_pooler, check_mean_pooling, check_parameter_count
from bert_edu.model import bert as reference
from exercise_helpers import assert_checker_fails, assert_checker_passes


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


# --- the modules of notebook 05 --------------------------------------------------------------------------

def test_bert_pooler(capsys):
    class MeanPooler(reference.BertPooler):
        def forward(self, hidden_states):
            return self.activation(self.dense(hidden_states.mean(1)))

    class NoTanh(reference.BertPooler):
        def forward(self, hidden_states):
            return self.dense(hidden_states[:, 0])

    assert_checker_passes(check_bert_pooler, reference.BertPooler, capsys)
    assert_checker_fails(check_bert_pooler, MeanPooler, capsys, hint="position 0")
    assert_checker_fails(check_bert_pooler, NoTanh, capsys, hint="ends with tanh")


class LearnerModel(nn.Module):
    """What a learner writes in notebook 05 (with the package's embeddings and encoder inside)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = reference.BertEmbeddings(config)
        self.encoder = reference.BertEncoder(config)
        self.pooler = reference.BertPooler(config)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, std)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx] = 0
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False):
        mask = None if attention_mask is None else attention_mask[:, None, None, :].bool()
        last, hidden, weights = self.encoder(self.embeddings(input_ids, token_type_ids), mask, output_attentions,
                                             output_hidden_states)
        return reference.BertModelOutput(last, self.pooler(last), hidden, weights)


def test_bert_model_accepts_the_reference_and_a_learners_version(capsys):
    assert_checker_passes(check_bert_model, reference.BertModel, capsys)
    assert_checker_passes(check_bert_model, LearnerModel, capsys)


def test_bert_model_names_typical_mistakes(capsys):
    class IgnoresMask(LearnerModel):
        def forward(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
            return super().forward(input_ids, None, token_type_ids, **kwargs)

    class DefaultInit(LearnerModel):
        def _init_weights(self, module):
            pass

    class BiasesNotZeroed(LearnerModel):
        def _init_weights(self, module):
            if not isinstance(module, nn.Linear):
                super()._init_weights(module)
            else:
                nn.init.normal_(module.weight, 0.0, self.config.initializer_range)

    class ForgetsPadRow(LearnerModel):
        def _init_weights(self, module):
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, self.config.initializer_range)
            else:
                super()._init_weights(module)

    assert_checker_fails(check_bert_model, IgnoresMask, capsys, hint="attention_mask was not used")
    assert_checker_fails(check_bert_model, DefaultInit, capsys, hint="initializer_range")
    assert_checker_fails(check_bert_model, BiasesNotZeroed, capsys, hint="biases must start at zero")
    assert_checker_fails(check_bert_model, ForgetsPadRow, capsys, hint="[PAD] row")
