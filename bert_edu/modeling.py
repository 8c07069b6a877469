"""BERT assembled: the encoder with its pooler, and the heads for pretraining and classification.

    embeddings -> N x encoder layer -> last_hidden_state (batch, T, hidden)
                                    -> pooler: tanh(W h_[CLS] + b) -> pooler_output (batch, hidden)

Classes (names, arguments, outputs and checkpoints as in ``transformers``):

* :class:`BertModel` -- the encoder. ``forward(input_ids, attention_mask=None, token_type_ids=None,
  output_attentions=False, output_hidden_states=False)`` returns :class:`BertModelOutput` with
  ``last_hidden_state``, ``pooler_output``, ``hidden_states`` (embeddings + every layer, when asked) and
  ``attentions`` (one ``(batch, heads, T, T)`` tensor per layer, when asked).
* :class:`BertForPreTraining` -- masked-LM head (decoder tied to the word embeddings) + next-sentence head.
  ``forward(..., labels=None, next_sentence_label=None)`` -> ``prediction_logits``, ``seq_relationship_logits``,
  ``loss``, ``mlm_loss``, ``nsp_loss``. With ``labels``, vocabulary logits are computed only at the selected
  positions (see its docstring).
* :class:`BertForMaskedLM` -- the masked-LM head alone (``logits``, ``loss``), e.g. for fill-mask.
* :class:`BertForSequenceClassification` -- pooled ``[CLS]`` -> dropout -> linear (``logits``, ``loss``).

All have ``from_pretrained(folder)`` (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``, HF
names; bare ``BertModel`` checkpoints such as all-MiniLM-L6-v2 load into any head) and
``save_pretrained(folder)``, whose output ``transformers`` loads with identical results.
:func:`mean_pooling` turns token vectors into a sentence vector (how MiniLM is used for semantic search). The name mapping
lives in :mod:`bert_edu.convert`. Outputs support ``out.loss`` and ``out["loss"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu import convert
from bert_edu.attention import BertSelfAttention
from bert_edu.config import BertConfig
from bert_edu.embeddings import BertEmbeddings, check_input_ids
from bert_edu.encoder import ACTIVATIONS, BertEncoder

IGNORE_INDEX = -100  # label of a position that is not predicted (as in transformers and F.cross_entropy)


# ----------------------------------------------------------------------------------------------- outputs


class ModelOutput:
    """Base of the output dataclasses: attribute access, ``out["name"]``, ``out[0]``, ``keys()``.

    Like transformers' ModelOutput, fields that are None are skipped by keys(), to_tuple() and int indexing.
    """

    def keys(self):
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def values(self):
        return [getattr(self, k) for k in self.keys()]

    def items(self):
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple:
        return tuple(self.values())

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __iter__(self):
        return iter(self.keys())


@dataclass
class BertModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor = None  # (batch, T, hidden)
    pooler_output: torch.Tensor | None = None  # (batch, hidden), None without a pooler
    hidden_states: tuple[torch.Tensor, ...] | None = None  # num_hidden_layers + 1 tensors (batch, T, hidden)
    attentions: tuple[torch.Tensor, ...] | None = None  # num_hidden_layers tensors (batch, heads, T, T)


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None  # mlm_loss + nsp_loss, when both labels are given (as in transformers)
    prediction_logits: torch.Tensor = None  # (batch, T, vocab); with labels: (num_selected, vocab)
    seq_relationship_logits: torch.Tensor = None  # (batch, 2)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    mlm_loss: torch.Tensor | None = None  # mean cross-entropy over the selected positions
    nsp_loss: torch.Tensor | None = None  # mean cross-entropy of the IsNext/NotNext prediction


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor = None  # (batch, T, vocab); with labels: (num_selected, vocab)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor = None  # (batch, num_labels)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def mean_pooling(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """One vector per sentence: the mean of its token vectors, padding excluded (batch, hidden).

    This is how all-MiniLM-L6-v2 (a sentence-transformers model) turns tokens into a sentence embedding;
    its training made cosine similarity of these means reflect similarity of meaning.
    """
    if attention_mask is None:
        return last_hidden_state.mean(dim=1)
    weights = attention_mask[..., None].to(last_hidden_state.dtype)  # (batch, T, 1): 1 = token, 0 = pad
    return (last_hidden_state * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


# ------------------------------------------------------------------------------------- loading / saving


class BertPreTrainedModel(nn.Module):
    """Weight initialisation and ``from_pretrained`` / ``save_pretrained``, shared by every class below."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"expected a bert_edu.BertConfig, got {type(config).__name__}; "
                            "build one with BertConfig(...) or BertConfig.from_pretrained(folder)")
        self.config = config

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm = identity (as transformers)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, BertLMPredictionHead):
            nn.init.zeros_(module.bias)

    def post_init(self) -> None:
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Heads with a decoder share the word-embedding matrix (overridden where it applies)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (a tied matrix counts once); the keywords mean what they mean in transformers,
        whose Trainer calls this."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in self.parameters()
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    @classmethod
    def from_pretrained(cls, folder, verbose: bool = True, **config_overrides):
        """Load ``folder/config.json`` + weights (HF layout). Keyword arguments override config fields
        (e.g. ``num_labels=2``, ``hidden_dropout_prob=0.0``). Prints what was initialised or ignored."""
        folder = Path(folder)
        config = BertConfig.from_pretrained(folder, **config_overrides)
        model = cls(config)
        state, notes = convert.hf_to_ours(convert.load_state_dict_file(folder), model)
        result = model.load_state_dict(state, strict=False)
        leftover = set(result.missing_keys) - set(convert.TIED) - {
            k for k in result.missing_keys if convert.HEAD_PATTERN.match(k)}
        assert not leftover and not result.unexpected_keys, (leftover, result.unexpected_keys)
        model.tie_weights()
        if verbose:
            for note in notes:
                print(f"[{cls.__name__}.from_pretrained] {note}")
        return model.eval()  # like transformers: dropout off until you call model.train()

    def save_pretrained(self, folder) -> Path:
        """Write ``config.json`` + ``model.safetensors`` in the HF layout (transformers loads them)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(folder, architectures=[type(self).__name__])
        convert.save_state_dict_file(convert.ours_to_hf(self), folder)
        return folder


# ---------------------------------------------------------------------------------------------- models


class BertPooler(nn.Module):
    """pooler_output = tanh(W h_[CLS] + b): a sentence vector, trained by next-sentence prediction."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))  # position 0 is [CLS]


class BertModel(BertPreTrainedModel):
    """The BERT encoder: embeddings, ``num_hidden_layers`` Transformer layers, and the pooler."""

    # Check token ids / lengths before running (clear errors). The value check reads the ids, which makes an
    # accelerator wait for the previous step: a fast training loop on GPU may set this to False.
    check_inputs: bool = True

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertModelOutput:
        """input_ids, attention_mask (1 = token, 0 = padding), token_type_ids (0 = A, 1 = B): (batch, T)."""
        if self.check_inputs:
            check_input_ids(input_ids, self.config, token_type_ids)
        # (batch, 1, 1, T) boolean "may attend to this key" mask; None when nothing is padded (faster)
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != input_ids.shape:
                raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
                                 f"{tuple(input_ids.shape)}; pass the tokenizer's attention_mask unchanged")
            if not bool(attention_mask.all()):
                mask = attention_mask[:, None, None, :].bool()
        hidden = self.embeddings(input_ids, token_type_ids)
        last, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states)
        pooled = self.pooler(last) if self.pooler is not None else None
        return BertModelOutput(last, pooled, all_hidden, all_attentions)


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
    * ``nsp_loss`` when ``next_sentence_label`` (batch,) is given.
    * ``loss = mlm_loss + nsp_loss`` when both labels are given (equal to transformers.BertForPreTraining's loss).
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                output_hidden_states=False, labels=None, next_sentence_label=None) -> BertForPreTrainingOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
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
                output_hidden_states=False, labels=None) -> SequenceClassifierOutput:
        out = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states)
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


__all__ = [
    "BertConfig", "BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForSequenceClassification",
    "BertModelOutput", "BertForPreTrainingOutput", "MaskedLMOutput", "SequenceClassifierOutput",
    "BertPooler", "BertSelfAttention", "IGNORE_INDEX", "mean_pooling",
]
