"""The one place where checkpoint parameter names meet our modules (notebook 05 loads MiniLM with it; 09 maps it).

Our modules carry the same names as ``transformers``' BERT (which kept those of Google's original
TensorFlow code), so the map from an HF checkpoint to our model is, name for name, the identity.
:data:`NAME_MAP` spells it out: which parameter is which matrix of the paper. What is *not* the
identity, and is handled here:

* **prefix**: a bare ``BertModel`` checkpoint (e.g. all-MiniLM-L6-v2) names ``embeddings.word_embeddings.weight``;
  a checkpoint with heads names it ``bert.embeddings.word_embeddings.weight``. We accept both, either way round.
* **old names**: checkpoints converted from TensorFlow long ago call LayerNorm's scale and shift ``gamma``
  and ``beta``; we rename them ``weight`` and ``bias``.
* **tied weights**: the masked-LM decoder reuses the word-embedding matrix (the same tensor, as in the
  original BERT), and its bias is ``cls.predictions.bias``. Saved checkpoints omit the duplicate
  ``cls.predictions.decoder.weight`` / ``.bias`` (transformers does the same); old ones that include them load.
* **buffers**: ``embeddings.position_ids`` (0, 1, 2, ...) is rebuilt, not loaded.
* **checks**: a missing encoder/embedding weight, or a key that belongs to no BERT module, is an error that
  lists the keys; a head absent from the checkpoint is freshly initialised, and a head that the model does
  not have (e.g. ``cls.*`` when fine-tuning a classifier) is ignored; both are reported.

    >>> from bert_edu import convert
    >>> convert.describe()          # prints the table
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

WEIGHTS_NAME = "model.safetensors"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"


class CheckpointError(ValueError):
    """A checkpoint does not fit the model; the message lists the offending keys."""


# (transformers parameter name, our module (class.attribute), what it is in the paper).
# "{i}" is the layer index 0 .. num_hidden_layers-1. Our parameter names are identical.
NAME_MAP: list[tuple[str, str, str]] = [
    ("embeddings.word_embeddings.weight", "BertEmbeddings.word_embeddings",
     "token embedding table, one row per WordPiece id (vocab_size, hidden)"),
    ("embeddings.position_embeddings.weight", "BertEmbeddings.position_embeddings",
     "learned position embeddings (max_position_embeddings, hidden)"),
    ("embeddings.token_type_embeddings.weight", "BertEmbeddings.token_type_embeddings",
     "segment embeddings: sentence A = row 0, B = row 1 (type_vocab_size, hidden)"),
    ("embeddings.LayerNorm.{weight,bias}", "BertEmbeddings.LayerNorm",
     "LayerNorm scale (gamma) and shift (beta) of the summed embeddings"),
    ("encoder.layer.{i}.attention.self.query.{weight,bias}", "BertSelfAttention.query",
     "W_Q of all heads stacked (hidden, hidden), and its bias"),
    ("encoder.layer.{i}.attention.self.key.{weight,bias}", "BertSelfAttention.key", "W_K of all heads"),
    ("encoder.layer.{i}.attention.self.value.{weight,bias}", "BertSelfAttention.value", "W_V of all heads"),
    ("encoder.layer.{i}.attention.output.dense.{weight,bias}", "BertSelfOutput.dense",
     "W_O: mixes the concatenated heads (hidden, hidden)"),
    ("encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}", "BertSelfOutput.LayerNorm",
     "LayerNorm after the attention residual (post-LN)"),
    ("encoder.layer.{i}.intermediate.dense.{weight,bias}", "BertIntermediate.dense",
     "feed-forward W_1: hidden -> intermediate_size (then GELU)"),
    ("encoder.layer.{i}.output.dense.{weight,bias}", "BertOutput.dense",
     "feed-forward W_2: intermediate_size -> hidden"),
    ("encoder.layer.{i}.output.LayerNorm.{weight,bias}", "BertOutput.LayerNorm",
     "LayerNorm after the feed-forward residual"),
    ("pooler.dense.{weight,bias}", "BertPooler.dense", "pooler: tanh(W h_[CLS] + b), input of NSP/classifier"),
    ("cls.predictions.transform.dense.{weight,bias}", "BertPredictionHeadTransform.dense",
     "MLM head: hidden -> hidden, then GELU"),
    ("cls.predictions.transform.LayerNorm.{weight,bias}", "BertPredictionHeadTransform.LayerNorm",
     "MLM head LayerNorm"),
    ("cls.predictions.bias", "BertLMPredictionHead.bias",
     "MLM output bias, one per vocabulary entry (the decoder's weight is word_embeddings, tied)"),
    ("cls.seq_relationship.{weight,bias}", "BertPreTrainingHeads.seq_relationship",
     "NSP head: pooled [CLS] -> 2 logits (0 = IsNext, 1 = NotNext)"),
    ("classifier.{weight,bias}", "BertForSequenceClassification.classifier",
     "classification head: pooled [CLS] -> num_labels logits"),
]

# In a model with heads, the encoder lives under this attribute (as in transformers).
BASE_PREFIX = "bert."
# The tied duplicates that checkpoints omit: key -> the parameter it is the same tensor as.
TIED = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}
# Buffers that transformers once saved and that we rebuild from the config.
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
# Parameters of heads any BERT checkpoint may carry: they can be absent (-> fresh init) or unused (-> ignored).
HEAD_PATTERN = re.compile(r"^(bert\.)?pooler\.|^cls\.|^classifier\.|^qa_outputs\.")


def describe(*models) -> None:
    """Print NAME_MAP as a table; given models (e.g. ``BertForPreTraining(config)``), with each weight's shape."""
    shapes = {}
    for model in models:
        for name, tensor in model.state_dict().items():
            shapes[name.removeprefix(BASE_PREFIX)] = tuple(tensor.shape)
    width = max(len(hf) for hf, _, _ in NAME_MAP)
    header = f"{'transformers name (= ours)':<{width}}  {'our module':<40}"
    print(header + ("  shape of .weight   " if shapes else "  ") + "meaning")
    for hf, ours, meaning in NAME_MAP:
        line = f"{hf:<{width}}  {ours:<40}"
        if shapes:
            concrete = hf.replace("{i}", "0").replace("{weight,bias}", "weight")
            line += f"  {str(shapes.get(concrete, '')):<18}"
        print(line + "  " + meaning)


def normalize_names(state_dict: dict) -> dict:
    """Old-style names -> current ones: LayerNorm gamma/beta -> weight/bias; drop rebuilt buffers."""
    out = {}
    for key, value in state_dict.items():
        if key.endswith(BUFFERS):
            continue
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
        out[key] = value
    return out


def _tied_sources(model) -> dict:
    """Our own alias keys (decoder.weight/bias) for the model at hand, mapped to their source keys."""
    own = model.state_dict().keys()
    return {k: v for k, v in TIED.items() if k in own}


def hf_to_ours(state_dict: dict, model) -> tuple[dict, list[str]]:
    """Map a transformers-layout state dict onto ``model``'s parameter names.

    Returns (state dict to load with ``strict=False``, notes to show the user). Raises CheckpointError
    when an embedding/encoder weight is missing, a key belongs to no BERT module, or a shape differs.
    """
    notes: list[str] = []
    state = normalize_names(state_dict)
    expected = set(model.state_dict().keys()) - set(_tied_sources(model))
    model_has_prefix = any(k.startswith(BASE_PREFIX) for k in expected)
    ckpt_has_prefix = any(k.startswith(BASE_PREFIX) for k in state)

    # 1. prefix: bring the checkpoint's base-model keys to the model's convention
    if model_has_prefix and not ckpt_has_prefix:
        state = {(BASE_PREFIX + k if re.match(r"^(embeddings|encoder|pooler)\.", k) else k): v
                 for k, v in state.items()}
    elif not model_has_prefix and ckpt_has_prefix:
        state = {(k[len(BASE_PREFIX):] if k.startswith(BASE_PREFIX) else k): v for k, v in state.items()}

    # 2. tied duplicates: keep the decoder bias if that is all we have; the decoder weight is the embeddings
    if "cls.predictions.decoder.bias" in state:
        bias = state.pop("cls.predictions.decoder.bias")
        state.setdefault("cls.predictions.bias", bias)
    state.pop("cls.predictions.decoder.weight", None)

    # 3. what is missing, what is left over
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    missing_base = [k for k in missing if not HEAD_PATTERN.match(k)]
    if missing_base:
        raise CheckpointError(
            f"the checkpoint lacks {len(missing_base)} weight(s) of the BERT encoder itself, so it cannot be "
            f"loaded: {', '.join(missing_base[:12])}{' ...' if len(missing_base) > 12 else ''}. "
            "Is it a BERT checkpoint with the same num_hidden_layers as its config.json?"
        )
    foreign = [k for k in unexpected if not HEAD_PATTERN.match(k)]
    if foreign:
        raise CheckpointError(
            f"the checkpoint has {len(foreign)} key(s) that belong to no BERT module: "
            f"{', '.join(foreign[:12])}{' ...' if len(foreign) > 12 else ''}. "
            "Is this a checkpoint of another architecture (see convert.NAME_MAP for BERT's names)?"
        )
    if missing:
        notes.append(f"newly initialised (not in the checkpoint): {_summarise(missing)}"
                     " -- train them before trusting their outputs")
    if unexpected:
        notes.append(f"ignored (this model has no such head): {_summarise(unexpected)}")

    # 4. shapes
    own = model.state_dict()
    wrong = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
             for k, v in state.items() if k in own and v.shape != own[k].shape]
    if wrong:
        raise CheckpointError("shape mismatch between checkpoint and config: " + "; ".join(wrong[:8]))
    return {k: v for k, v in state.items() if k in expected}, notes


def _summarise(keys: list[str]) -> str:
    """cls.predictions.transform.dense.weight, ...bias -> 'cls.predictions.transform.dense.{weight,bias}'."""
    modules = []
    for k in keys:
        m = k.rsplit(".", 1)[0] if k.endswith((".weight", ".bias")) else k
        if m not in modules:
            modules.append(m)
    return ", ".join(modules)


def ours_to_hf(model) -> dict:
    """Our state dict in the layout transformers saves: tied duplicates dropped, tensors contiguous."""
    tied = _tied_sources(model)
    return {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in tied}


def load_state_dict_file(folder) -> dict:
    """Read ``model.safetensors`` (preferred) or ``pytorch_model.bin`` from a checkpoint folder."""
    folder = Path(folder)
    if (folder / WEIGHTS_NAME).is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / WEIGHTS_NAME))
    if (folder / LEGACY_WEIGHTS_NAME).is_file():
        return torch.load(folder / LEGACY_WEIGHTS_NAME, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"no {WEIGHTS_NAME} or {LEGACY_WEIGHTS_NAME} in {folder}")


def save_state_dict_file(state_dict: dict, folder) -> Path:
    from safetensors.torch import save_file

    path = Path(folder) / WEIGHTS_NAME
    save_file({k: v.cpu() for k, v in state_dict.items()}, str(path), metadata={"format": "pt"})
    return path
