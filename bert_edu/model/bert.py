"""BERT assembled: the encoder with its pooler (notebook 05); the task heads are in :mod:`bert_edu.model.heads`.

    embeddings -> N x encoder layer -> last_hidden_state (batch, T, hidden)
                                    -> pooler: tanh(W h_[CLS] + b) -> pooler_output (batch, hidden)

Classes (names, arguments, outputs and checkpoints as in ``transformers``):

* :class:`BertModel` -- the encoder. ``forward(input_ids, attention_mask=None, token_type_ids=None,
  output_attentions=False, output_hidden_states=False, head_mask=None)`` returns :class:`BertModelOutput` with
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
lives in :mod:`bert_edu.model.convert`. Outputs support ``out.loss`` and ``out["loss"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu.model import convert
from bert_edu.model.config import IGNORE_INDEX, BertConfig  # noqa: F401  (IGNORE_INDEX re-exported for old imports)
from bert_edu.model.embeddings import BertEmbeddings, check_input_ids
from bert_edu.model.encoder import BertEncoder


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
        # the MLM head's vocabulary bias is its decoder's bias (tied), zeroed by the nn.Linear branch

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
    """pooler_output = tanh(W h_[CLS] + b): a sentence vector; BERT's pretraining trains it with next-sentence
    prediction (all-MiniLM-L6-v2's pooler was not trained that way; notebook 05 compares it with mean pooling)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))  # position 0 is [CLS]


def expand_head_mask(head_mask, config: BertConfig) -> torch.Tensor:
    """A (heads,) mask applies to every layer; returns (layers, heads). 1 keeps a head, 0 removes it: its
    attention weights (and so its output) are multiplied by the gate, as with transformers' ``head_mask``."""
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    head_mask = torch.as_tensor(head_mask)
    if head_mask.shape == (heads,):
        head_mask = head_mask.expand(layers, heads)
    if head_mask.shape != (layers, heads):
        raise ValueError(f"head_mask has shape {tuple(head_mask.shape)}; it must be ({heads},) for every layer or "
                         f"({layers}, {heads}) per layer, 1.0 to keep a head and 0.0 to remove it")
    return head_mask


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
                output_hidden_states: bool = False, head_mask: torch.Tensor | None = None) -> BertModelOutput:
        """input_ids, attention_mask (1 = token, 0 = padding), token_type_ids (0 = A, 1 = B): (batch, T).
        head_mask: (heads,) or (layers, heads), 1 = keep a head, 0 = remove it; its gradient measures how
        much each head matters (Michel et al. 2019, notebook 12)."""
        if self.check_inputs:
            check_input_ids(input_ids, self.config, token_type_ids)
        # (batch, 1, 1, T) boolean "may attend to this key" mask; None when nothing is padded (faster)
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != input_ids.shape:
                raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
                                 f"{tuple(input_ids.shape)}; pass the tokenizer's attention_mask unchanged")
            # A mask of all ones changes nothing, but SDPA is faster without one. Finding out reads the mask
            # (a host sync on a GPU), so only when the inputs are checked anyway; a training loop, which skips
            # the checks, decides in its collate and passes attention_mask=None for a batch without padding.
            if not (self.check_inputs and bool(attention_mask.all())):
                mask = attention_mask[:, None, None, :].bool()
        if head_mask is not None:
            head_mask = expand_head_mask(head_mask, self.config)
        hidden = self.embeddings(input_ids, token_type_ids)
        last, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states,
                                                        head_mask)
        pooled = self.pooler(last) if self.pooler is not None else None
        return BertModelOutput(last, pooled, all_hidden, all_attentions)
