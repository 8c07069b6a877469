"""The heads on top of :class:`~bert_edu.model.bert.BertModel`, named and saved as in ``transformers``.

* :class:`BertForPreTraining` -- masked-LM head (decoder tied to the word embeddings) + next-sentence head
  (notebook 07). With ``labels``, vocabulary logits are computed only at the selected positions.
* :class:`BertForMaskedLM` -- the masked-LM head alone (``logits``, ``loss``), e.g. for fill-mask.
* :class:`BertForSequenceClassification` -- pooled ``[CLS]`` -> dropout -> linear (notebook 08).
* :class:`BertForTokenClassification` -- every token's vector -> dropout -> linear: a tag per token (notebook 10).
* :class:`BertForQuestionAnswering` -- every token's vector -> linear -> a start and an end logit (notebook 11).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu.model.activations import ACTIVATIONS
from bert_edu.model.bert import (BertForPreTrainingOutput, BertModel, BertPreTrainedModel, MaskedLMOutput,
                                 ModelOutput, SequenceClassifierOutput)
from bert_edu.model.config import IGNORE_INDEX, BertConfig


class BertPredictionHeadTransform(nn.Module):
    """MLM head, first part: dense -> GELU -> LayerNorm, applied before the vocabulary projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACTIVATIONS[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """transform, then logits = h E^T + b: the decoder weight IS the word-embedding matrix E (tied)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # one bias per vocabulary entry, saved as cls.predictions.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)  # NSP: 0 = IsNext, 1 = NotNext


def _masked_lm(head: BertLMPredictionHead, sequence_output: torch.Tensor, labels: torch.Tensor | None):
    """Vocabulary logits and MLM loss. With labels, only the selected positions (labels != -100) go
    through the head: for BERT's 15% masking that is ~7x less work in the largest matmul (hidden x vocab).
    The mean cross-entropy over those positions is exactly what transformers computes with ignore_index."""
    if labels is None:
        return head(sequence_output), None
    if labels.shape != sequence_output.shape[:2]:
        raise ValueError(f"labels has shape {tuple(labels.shape)}, expected (batch, T) = "
                         f"{tuple(sequence_output.shape[:2])}, with -100 where no prediction is made")
    selected = labels != IGNORE_INDEX
    logits = head(sequence_output[selected])  # (num_selected, vocab), row-major order of the positions
    return logits, F.cross_entropy(logits.float(), labels[selected])


def gather_positions(sequence_output: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``sequence_output[b, positions[b, p]]`` for every row b and slot p: (batch, P, hidden). A gather with a
    fixed shape: unlike boolean indexing it never asks the GPU how many positions there are (a host sync)."""
    if positions.dim() != 2 or positions.shape[0] != sequence_output.shape[0]:
        raise ValueError(f"masked_lm_positions has shape {tuple(positions.shape)}; it must be (batch, P) with "
                         f"batch = {sequence_output.shape[0]}: P token positions per sequence")
    index = positions[:, :, None].expand(-1, -1, sequence_output.shape[-1])
    return sequence_output.gather(1, index)


def _masked_lm_at(head: BertLMPredictionHead, sequence_output: torch.Tensor, positions: torch.Tensor,
                  labels: torch.Tensor | None):
    """The fast path of the training loop: logits at ``positions`` (batch, P) only, (batch, P, vocab); with
    ``labels`` (batch, P: the original tokens, -100 in unused slots) the mean cross-entropy over used slots."""
    logits = head(gather_positions(sequence_output, positions))
    if labels is None:
        return logits, None
    if labels.shape != positions.shape:
        raise ValueError(f"with masked_lm_positions, labels must have its shape {tuple(positions.shape)} (the "
                         f"original token in each slot, -100 in unused ones), got {tuple(labels.shape)}")
    return logits, F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


class _TiedDecoderMixin:
    def tie_weights(self) -> None:
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        self.cls.predictions.decoder.bias = self.cls.predictions.bias


class BertForPreTraining(_TiedDecoderMixin, BertPreTrainedModel):
    """BERT with its two pretraining heads: masked language model (MLM) and next sentence prediction (NSP).

    ``forward(input_ids, attention_mask=None, token_type_ids=None, labels=None, next_sentence_label=None,
    output_attentions=False, output_hidden_states=False)`` returns :class:`BertForPreTrainingOutput`:

    * ``seq_relationship_logits`` (batch, 2): NSP scores from the pooled ``[CLS]`` (0 = IsNext, 1 = NotNext).
    * without ``labels``: ``prediction_logits`` (batch, T, vocab), as in transformers.
    * with ``labels`` (batch, T; the original token id at each selected position, -100 elsewhere):
      ``prediction_logits`` has shape **(num_selected, vocab)**: the logits of the selected positions only,
      in the order of ``labels[labels != -100]`` (so ``(prediction_logits.argmax(-1) == labels[labels != -100])``
      is the MLM accuracy), and ``mlm_loss`` is their mean cross-entropy.
    * with ``masked_lm_positions`` (batch, P; the training loop's fast path, as the original BERT's
      ``masked_lm_positions``): ``prediction_logits`` (batch, P, vocab) at those positions only, gathered with a
      fixed shape (no host sync); ``labels`` is then (batch, P), -100 in unused slots.
    * ``nsp_loss`` when ``next_sentence_label`` (batch,) is given.
    * ``loss = mlm_loss + nsp_loss`` when both labels are given (equal to transformers.BertForPreTraining's loss).
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, labels=None, next_sentence_label=None,
                masked_lm_positions=None) -> BertForPreTrainingOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
        if masked_lm_positions is not None:
            prediction_logits, mlm_loss = _masked_lm_at(self.cls.predictions, out.last_hidden_state,
                                                        masked_lm_positions, labels)
        else:
            prediction_logits, mlm_loss = _masked_lm(self.cls.predictions, out.last_hidden_state, labels)
        seq_relationship_logits = self.cls.seq_relationship(out.pooler_output)
        nsp_loss = None
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(seq_relationship_logits.float(), next_sentence_label.view(-1))
        loss = mlm_loss + nsp_loss if mlm_loss is not None and nsp_loss is not None else None
        return BertForPreTrainingOutput(loss, prediction_logits, seq_relationship_logits,
                                        out.hidden_states, out.attentions, mlm_loss, nsp_loss)


class BertForMaskedLM(_TiedDecoderMixin, BertPreTrainedModel):
    """BERT with the masked-LM head only (no pooler, as in transformers): fill in ``[MASK]`` tokens.

    ``logits``: (batch, T, vocab) without labels; with ``labels``, (num_selected, vocab) in the order of
    ``labels[labels != -100]`` and ``loss`` = their mean cross-entropy (as BertForPreTraining).
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, labels=None) -> MaskedLMOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
        logits, loss = _masked_lm(self.cls.predictions, out.last_hidden_state, labels)
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class BertForSequenceClassification(BertPreTrainedModel):
    """pooled [CLS] -> dropout -> linear -> ``num_labels`` logits (BERT section 4.1).

    ``labels`` (batch,): integer classes -> cross-entropy; with ``num_labels == 1``, float targets ->
    mean squared error (regression); float (batch, num_labels) targets -> multi-label BCE (as transformers).
    Label names live in ``config.id2label`` / ``config.label2id`` and are saved in config.json.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, labels=None, head_mask=None) -> SequenceClassifierOutput:
        # head_mask only when given: an encoder without that argument (the learner's BertModel, notebook 08) fits too
        extra = {} if head_mask is None else {"head_mask": head_mask}
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states, **extra)
        logits = self.classifier(self.dropout(out.pooler_output))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(logits.squeeze().float(), labels.squeeze().to(torch.float32))
            elif labels.dtype in (torch.long, torch.int):
                if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_labels):
                    raise ValueError(f"labels must be class ids in [0, {self.num_labels}), got "
                                     f"{labels.min().item()}..{labels.max().item()}; set num_labels in the config")
                loss = F.cross_entropy(logits.float(), labels.view(-1))
            else:
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None  # mean cross-entropy over the labelled positions (labels != -100)
    logits: torch.Tensor = None  # (batch, T, num_labels): one prediction per token
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class BertForTokenClassification(BertPreTrainedModel):
    """every token's vector -> dropout -> linear -> ``num_labels`` logits: a tag per token (BERT section 5.3,
    named entities; notebook 10). No pooler: the sentence vector is not used (as in transformers).

    ``labels`` (batch, T): tag ids, ``-100`` where no tag is predicted ([CLS], [SEP], padding, the pieces after
    the first of a word) -> mean cross-entropy over the other positions.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, labels=None) -> TokenClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1),
                                   ignore_index=IGNORE_INDEX)
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None  # (start loss + end loss) / 2, when both positions are given
    start_logits: torch.Tensor = None  # (batch, T): how much each token looks like the answer's first token
    end_logits: torch.Tensor = None  # (batch, T): ... like its last token
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive question answering (BERT section 4.2, SQuAD; notebook 11): one linear layer ``qa_outputs``
    turns every token's vector into a start logit and an end logit. No pooler, no dropout (as transformers).

    ``start_positions`` / ``end_positions`` (batch,): token indices of the answer's first and last token
    (0, [CLS], when the window does not hold the answer) -> loss = mean of the two cross-entropies over the
    positions. Positions outside the sequence are clamped to T and ignored, as in transformers.
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(f"BertForQuestionAnswering predicts a start and an end: num_labels must be 2, not "
                             f"{config.num_labels}")
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, start_positions=None, end_positions=None) -> QuestionAnsweringModelOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)  # (batch, T) each
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start_logits.shape[1]  # a position past the end (an answer cut off) counts for nothing
            start_positions = start_positions.view(-1).clamp(0, ignored)
            end_positions = end_positions.view(-1).clamp(0, ignored)
            loss = (F.cross_entropy(start_logits.float(), start_positions, ignore_index=ignored)
                    + F.cross_entropy(end_logits.float(), end_positions, ignore_index=ignored)) / 2
        return QuestionAnsweringModelOutput(loss, start_logits.contiguous(), end_logits.contiguous(),
                                            out.hidden_states, out.attentions)


__all__ = ["BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
           "TokenClassifierOutput", "BertForQuestionAnswering", "QuestionAnsweringModelOutput", "BertLMPredictionHead",
           "BertPredictionHeadTransform", "BertPreTrainingHeads", "BertOnlyMLMHead", "gather_positions"]
