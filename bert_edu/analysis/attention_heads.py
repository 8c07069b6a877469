"""The numbers behind notebook 06's attention pictures: per-head statistics and switching heads off.

Everything here takes what a BERT returns with ``output_attentions=True``: a tuple with one tensor of
shape ``(batch, heads, T, T)`` per layer, where row ``i`` of a head is how query token ``i`` spreads
its attention over the ``T`` key tokens (each row sums to one). ``stack_layers`` turns that tuple into
one ``(layers, heads, T, T)`` tensor for a single example; every analysis below works on such a tensor
(or on any ``(..., T, T)`` tensor) and returns one number per head, i.e. a ``(layers, heads)`` tensor.
The analyses follow Clark et al. (2019), "What Does BERT Look At? An Analysis of BERT's Attention".

Pure torch, no plotting: ``bert_edu.course.viz`` (the pictures) re-exports every name, and the checkers of
notebook 06 (``bert_edu.exercises.attention_maps``) compare with these references.
"""

from __future__ import annotations

import contextlib
import string

import torch


# ----------------------------------------------------------------------------------------------
# from model output to one (layers, heads, T, T) tensor


def stack_layers(attentions, index: int = 0, length: int | None = None) -> torch.Tensor:
    """One example's attention as a ``(layers, heads, T, T)`` float tensor on the CPU.

    ``attentions``: the ``output.attentions`` tuple (one ``(batch, heads, T, T)`` tensor per layer).
    ``index``: which example of the batch. ``length``: keep only the first ``length`` tokens, i.e. drop
    right padding (a real token gives padding ~0 attention, so its row still sums to ~1).
    """
    if attentions is None:
        raise ValueError("no attentions: run the model with output_attentions=True "
                         "(for transformers models also load them with attn_implementation='eager')")
    if isinstance(attentions, torch.Tensor) and attentions.dim() == 4:
        attn = attentions  # already (layers, heads, T, T)
    else:
        layers = list(attentions)
        if not layers or any(a.dim() != 4 for a in layers):
            raise ValueError("expected output.attentions: a tuple with one (batch, heads, T, T) tensor per "
                             f"layer, got shapes {[tuple(a.shape) for a in layers]}")
        if not 0 <= index < layers[0].shape[0]:
            raise IndexError(f"index {index} is out of range for a batch of {layers[0].shape[0]}")
        attn = torch.stack([a[index] for a in layers])
    if length is not None:
        attn = attn[..., :length, :length]
    return attn.detach().float().cpu()


# ----------------------------------------------------------------------------------------------
# analyses: each takes attn (..., T, T) and returns one number per head (...)


def is_punctuation(token: str) -> bool:
    """True for tokens made only of punctuation, e.g. ``.``, ``,``, ``'``, ``--``."""
    return bool(token) and all(ch in string.punctuation for ch in token)


def key_mask(tokens: list[str], which: str) -> torch.Tensor:
    """Boolean ``(T,)`` mask of the key tokens that are ``which``: a token such as ``"[SEP]"``, or
    ``"punctuation"``."""
    if which == "punctuation":
        return torch.tensor([is_punctuation(t) for t in tokens])
    return torch.tensor([t == which for t in tokens])


def attention_to(attn: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Share of attention paid to the keys where ``keys`` (bool, ``(T,)``) is True, averaged over queries."""
    return attn[..., keys].sum(-1).mean(-1)


def offset_attention(attn: torch.Tensor, offset: int) -> torch.Tensor:
    """Average attention from each token ``i`` to token ``i + offset`` (``-1``: previous, ``+1``: next).

    Only queries that have such a neighbour count (the first token has no previous one).
    """
    # torch.diagonal(offset=k) holds the entries (i, i + k); a negative k is below the main diagonal.
    return torch.diagonal(attn, offset=offset, dim1=-2, dim2=-1).mean(-1)


def head_entropy(attn: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each query's attention distribution, averaged over queries.

    0 means every token looks at exactly one token; ``log(T)`` means uniform attention over all T tokens.
    """
    # xlogy(p, p) = p * log(p), and 0 where p = 0 (a masked key), instead of 0 * -inf = nan
    return -torch.special.xlogy(attn, attn).sum(-1).mean(-1)


def attention_distance(attn: torch.Tensor) -> torch.Tensor:
    """Average distance ``|i - j|`` (in tokens) between a query ``i`` and the keys ``j`` it attends to."""
    pos = torch.arange(attn.shape[-1])
    distance = (pos[:, None] - pos[None, :]).abs().to(attn.dtype)  # (T, T)
    return (attn * distance).sum(-1).mean(-1)


def cross_segment_attention(attn: torch.Tensor, b_start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For a pair ``[CLS] A [SEP] B [SEP]``: (share of A's attention on B, share of B's attention on A).

    ``b_start``: the position of B's first token (A is ``[CLS] A [SEP]``, B is ``B [SEP]``).
    """
    T = attn.shape[-1]
    if not 0 < b_start < T:
        raise ValueError(f"b_start must be inside the sequence (1..{T - 1}), got {b_start}")
    a_to_b = attn[..., :b_start, b_start:].sum(-1).mean(-1)
    b_to_a = attn[..., b_start:, :b_start].sum(-1).mean(-1)
    return a_to_b, b_to_a


def head_statistics(attn: torch.Tensor, tokens: list[str]) -> dict[str, torch.Tensor]:
    """All the per-head numbers for one example: a dict of ``(layers, heads)`` tensors."""
    if attn.shape[-1] != len(tokens):
        raise ValueError(f"attention covers {attn.shape[-1]} tokens but {len(tokens)} tokens were given; "
                         "pass the tokens of this example without padding (see stack_layers(length=...))")
    return {
        "[CLS]": attention_to(attn, key_mask(tokens, "[CLS]")),
        "[SEP]": attention_to(attn, key_mask(tokens, "[SEP]")),
        "punctuation": attention_to(attn, key_mask(tokens, "punctuation")),
        "self": offset_attention(attn, 0),
        "previous": offset_attention(attn, -1),
        "next": offset_attention(attn, +1),
        "entropy": head_entropy(attn),
        "distance": attention_distance(attn),
    }


def mean_statistics(per_example: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Average ``head_statistics`` over examples (each example counts once, whatever its length)."""
    if not per_example:
        raise ValueError("no examples to average")
    return {key: torch.stack([s[key] for s in per_example]).mean(0) for key in per_example[0]}


def _uniform_like(n: int) -> torch.Tensor:
    return torch.full((1, 1, n, n), 1.0 / n)


@torch.no_grad()
def collect_statistics(model, tokenizer, texts: list[str], text_pairs: list[str] | None = None,
                       batch_size: int = 32) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Run ``model`` on many texts (or sentence pairs) and average ``head_statistics`` over them.

    Returns ``(heads, uniform)``: ``heads`` maps each statistic to a ``(layers, heads)`` tensor (pairs also
    get ``"A->B"`` and ``"B->A"``, see ``cross_segment_attention``); ``uniform`` gives the same statistics
    for a head that spreads its attention evenly over the same inputs: the baseline to compare with.
    Sentences are batched by length, so little time goes into padding.
    """
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs: give one pair per text")
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + len(text_pairs[i] if text_pairs else ""))
    per_example, per_uniform = [], []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch_a = [texts[i] for i in idx]
        batch_b = [text_pairs[i] for i in idx] if text_pairs else None
        enc = tokenizer(batch_a, batch_b, padding=True, return_tensors="pt")
        out = model(**{k: v.to(device) for k, v in enc.items()}, output_attentions=True)
        for row in range(len(idx)):
            n = int(enc["attention_mask"][row].sum())
            tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][row, :n].tolist())
            for attn, sink in [(stack_layers(out.attentions, row, n), per_example),
                               (_uniform_like(n), per_uniform)]:
                stats = head_statistics(attn, tokens)
                if text_pairs:
                    b_start = int(enc["token_type_ids"][row, :n].argmax())  # the first token of segment B
                    stats["A->B"], stats["B->A"] = cross_segment_attention(attn, b_start)
                sink.append(stats)
    uniform = {key: float(value) for key, value in mean_statistics(per_uniform).items()}
    return mean_statistics(per_example), uniform


def top_heads(scores: torch.Tensor, k: int = 3) -> list[tuple[int, int, float]]:
    """The ``k`` largest entries of a ``(layers, heads)`` tensor as ``(layer, head, score)``, best first."""
    values, flat = scores.flatten().topk(k)
    n_heads = scores.shape[-1]
    return [(int(i) // n_heads, int(i) % n_heads, float(v)) for v, i in zip(values, flat)]


# ----------------------------------------------------------------------------------------------
# switching heads off


def mask_head(context: torch.Tensor, head: int, num_heads: int) -> torch.Tensor:
    """Zero one head's slice of the concatenated head outputs ``(..., num_heads * head_dim)``.

    After attention, the heads' outputs sit side by side: head ``h`` owns features
    ``h * head_dim`` to ``(h + 1) * head_dim``. Zeroing them is what multiplying that head's
    attention weights by 0 does (the "head mask" of Michel et al., 2019). Returns a new tensor.
    """
    if context.shape[-1] % num_heads:
        raise ValueError(f"the last dimension ({context.shape[-1]}) is not num_heads ({num_heads}) x head_dim")
    if not 0 <= head < num_heads:
        raise ValueError(f"head must be in 0..{num_heads - 1}, got {head}")
    head_dim = context.shape[-1] // num_heads
    out = context.clone()
    out[..., head * head_dim:(head + 1) * head_dim] = 0
    return out


def _attention_output_projections(model) -> list[torch.nn.Module]:
    """The linear layer W_O of each encoder layer, whose input is the concatenated heads.

    Named ``encoder.layer[i].attention.output.dense`` in bert_edu and in transformers alike.
    """
    encoder = getattr(model, "bert", model).encoder  # a task model keeps its BertModel in .bert
    return [layer.attention.output.dense for layer in encoder.layer]


@contextlib.contextmanager
def masked_heads(model, heads, mask_fn=mask_head):
    """Within the ``with`` block, the ``(layer, head)`` pairs in ``heads`` output zeros.

    Works by a forward pre-hook on each layer's attention output projection W_O, which receives the
    concatenated heads: the model's code is not touched, and the hooks go away on exit.
    ``mask_fn(context, head, num_heads)`` does the zeroing (default: :func:`mask_head`).
    """
    projections = _attention_output_projections(model)
    num_heads = model.config.num_attention_heads
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not 0 <= layer < len(projections):
            raise ValueError(f"layer must be in 0..{len(projections) - 1}, got {layer}")
        by_layer.setdefault(layer, []).append(head)

    def make_hook(layer_heads):
        def hook(module, args):
            context = args[0]
            for h in layer_heads:
                context = mask_fn(context, h, num_heads)
            return (context, *args[1:])
        return hook

    handles = [projections[layer].register_forward_pre_hook(make_hook(hs)) for layer, hs in by_layer.items()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
