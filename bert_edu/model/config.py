"""`BertConfig`: every size and rate that defines a BERT, readable and writable as an HF ``config.json``
(used from notebook 02 on; notebook 05 reads MiniLM's).

The field names and defaults are those of ``transformers.BertConfig`` (which are those of the original
``bert_config.json`` of Devlin et al., 2018), so a checkpoint written by either library loads in the other.

    config = BertConfig(vocab_size=8000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512)
    config.save_pretrained("my-bert")                 # writes my-bert/config.json
    config = BertConfig.from_pretrained("my-bert")     # reads it back (also reads HF folders)

A config that does not describe this BERT (another ``model_type``, a hidden size that the heads cannot
split, relative position embeddings, a decoder, ...) raises :class:`ValueError` naming the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from bert_edu.model.activations import ACTIVATIONS

CONFIG_NAME = "config.json"

# Label of a position that is not predicted (as in transformers and F.cross_entropy's ignore_index).
IGNORE_INDEX = -100

# Named sizes, the one table every command uses (`--size`): the BERT miniatures of Turc et al. (2019,
# "Well-Read Students Learn Better") and BERT-base. Layers, hidden size, heads (64 dims each), FFN 4x hidden.
SIZES = {
    "tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    "mini": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "small": dict(num_hidden_layers=4, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "medium": dict(num_hidden_layers=8, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}

# Keys that transformers writes into config.json but that change nothing in this encoder-only BERT;
# they are read, kept and written back, so a round trip does not lose them.
_HARMLESS_KEYS = {
    "_name_or_path", "transformers_version", "dtype", "torch_dtype", "use_cache", "gradient_checkpointing",
    "output_hidden_states", "output_attentions", "return_dict", "chunk_size_feed_forward", "bos_token_id",
    "eos_token_id", "tie_word_embeddings", "problem_type", "is_encoder_decoder", "add_cross_attention",
    "is_decoder", "position_embedding_type", "architectures", "model_type",
}


@dataclass
class BertConfig:
    """The hyper-parameters of a BERT model (names and defaults as in ``transformers.BertConfig``).

    The defaults are BERT-base: 12 layers, hidden size 768, 12 heads, feed-forward size 3072,
    the 30,522-token uncased WordPiece vocabulary, 512 positions, 2 segments.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"  # the exact erf GELU, as in BERT; "gelu_new"/"gelu_pytorch_tanh" = tanh approximation
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: float | None = None  # None: use hidden_dropout_prob, as transformers does
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    label2id: dict[str, int] | None = None
    # other config.json keys (e.g. transformers_version), kept so that save_pretrained writes them back
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.id2label is None:
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.num_labels = len(self.id2label)  # id2label, when given, decides (as in transformers)
        if self.label2id is None:
            self.label2id = {v: k for k, v in self.id2label.items()}
        self.label2id = {str(k): int(v) for k, v in self.label2id.items()}
        self.validate()

    @property
    def head_size(self) -> int:
        """d_k in the paper: the width of one attention head."""
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise ValueError naming the problem when these numbers cannot make a BERT."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                f"({self.num_attention_heads}): each head gets hidden_size / num_attention_heads dimensions. "
                "Choose sizes such as hidden_size=256, num_attention_heads=4."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act={self.hidden_act!r} is not supported; "
                             f"use one of {sorted(ACTIVATIONS)} ('gelu' is BERT's exact erf GELU)")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id={self.pad_token_id} is outside the vocabulary "
                             f"[0, {self.vocab_size})")
        extra = self.extra
        if extra.get("model_type", "bert") != "bert":
            raise ValueError(f"this config.json describes a {extra['model_type']!r} model, not BERT "
                             "(model_type must be 'bert')")
        if extra.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type={extra['position_embedding_type']!r} is not supported: "
                             "this BERT learns one absolute position embedding per position ('absolute')")
        if extra.get("is_decoder") or extra.get("add_cross_attention"):
            raise ValueError("is_decoder / add_cross_attention is set: this BERT is an encoder only "
                             "(bidirectional self-attention, no cross-attention)")

    # ---------------------------------------------------------------------------------------- dict / JSON

    def to_dict(self) -> dict:
        """The config.json content: our fields, the kept extra keys, model_type 'bert'."""
        out = dict(self.extra)
        for f in fields(self):
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["model_type"] = "bert"
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, config: dict) -> "BertConfig":
        config = dict(config)
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: config.pop(k) for k in list(config) if k in known}
        return cls(**kwargs, extra=config)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save_pretrained(self, save_directory, architectures: list[str] | None = None) -> None:
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        if architectures is not None:
            d["architectures"] = list(architectures)
        (folder / CONFIG_NAME).write_text(json.dumps(d, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, path, **overrides) -> "BertConfig":
        """Read ``path/config.json`` (or ``path`` itself if it is a file); keyword arguments override fields."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {path}: a checkpoint folder holds config.json "
                                    "and model.safetensors (write one with save_pretrained)")
        d = json.loads(file.read_text())
        d.update(overrides)
        if "num_labels" in overrides and "id2label" not in overrides:
            d.pop("id2label", None)
            d.pop("label2id", None)
        return cls.from_dict(d)
