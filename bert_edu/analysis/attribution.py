"""Which tokens made the classifier decide? Three lenses, and a test of which one is faithful (notebook 12).

* **gradient x input** (Shrikumar et al. 2016; Denil et al. 2014): score_t = sum_d dF/de_td * e_td, the
  first-order Taylor estimate of how much F changes when token t's word embedding e_t is set to zero;
* **integrated gradients** (Sundararajan, Taly and Yan 2017, *Axiomatic Attribution for Deep Networks*):
  the gradient averaged along the straight path from a baseline input e' to the input e,

      IG_t = sum_d (e_td - e'_td) * mean_{alpha in (0, 1)} dF/de_td (e' + alpha (e - e')),

  whose scores add up to F(e) - F(e') (*completeness*); the mean over alpha is a Riemann sum with
  ``steps`` midpoints. Our baseline replaces every ordinary token by ``[MASK]`` ([CLS], [SEP] stay);
* **attention**: how much the ``[CLS]`` query of the last layer attends to each token (mean over heads), or
  the attention *rollout* of Abnar and Zuidema (2020) through all layers.

F is the probability of the ``target`` class (``output="probability"``) or its logit (``"logit"``).
Gradients are taken with respect to the output of the word-embedding table (before positions, segments and
LayerNorm are added), which a forward hook lets us read and replace without touching the model's code.

The **deletion test** (``deletion_drops``) replaces the k tokens a lens ranks highest by ``[MASK]`` and
measures how far the probability of the predicted class falls; a faithful lens makes it fall further than
deleting k random tokens (DeYoung et al. 2020 call this *comprehensiveness*).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def word_embedding_layer(model) -> torch.nn.Module:
    """The word-embedding table of a BERT classifier (``model.bert.embeddings.word_embeddings``)."""
    try:
        return model.bert.embeddings.word_embeddings
    except AttributeError:
        raise TypeError(f"{type(model).__name__} has no bert.embeddings.word_embeddings: pass a BERT model "
                        "with a task head, e.g. bert_edu.BertForSequenceClassification") from None


@contextmanager
def replaced_word_embeddings(model, embeddings: torch.Tensor):
    """Inside the block, the word-embedding table returns ``embeddings`` (batch, T, hidden) instead of its
    lookup: the rest of the model (positions, segments, LayerNorm, layers) runs unchanged on top of it."""
    handle = word_embedding_layer(model).register_forward_hook(lambda module, args, output: embeddings)
    try:
        yield
    finally:
        handle.remove()


def ordinary_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, special_ids) -> torch.Tensor:
    """(batch, T) True where a token is a real, non-special token (not [CLS], [SEP], [PAD], [MASK])."""
    keep = ~torch.isin(input_ids, torch.as_tensor(list(special_ids), device=input_ids.device))
    return keep if attention_mask is None else keep & attention_mask.bool()


def class_score(logits: torch.Tensor, target: torch.Tensor, output: str = "probability") -> torch.Tensor:
    """F for each row: softmax(logits)[target] or logits[target], shape (batch,)."""
    if output == "probability":
        logits = logits.float().softmax(-1)
    elif output != "logit":
        raise ValueError(f"output must be 'probability' or 'logit', got {output!r}")
    return logits.gather(-1, target[:, None])[:, 0]


@torch.no_grad()
def predict(model, input_ids, attention_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, its probability), each (batch,)."""
    probs = model(input_ids, attention_mask=attention_mask).logits.float().softmax(-1)
    p, target = probs.max(-1)
    return target, p


def gradient_x_input(model, input_ids, attention_mask=None, target=None, output: str = "probability"):
    """(batch, T) scores: sum over the hidden axis of dF/de * e, for the word embeddings e of each token.

    ``target`` (batch,): the class to explain; by default the predicted one.
    """
    table = word_embedding_layer(model)
    if target is None:
        target, _ = predict(model, input_ids, attention_mask)
    with torch.no_grad():
        e = table(input_ids)
    e.requires_grad_(True)
    with replaced_word_embeddings(model, e):
        score = class_score(model(input_ids, attention_mask=attention_mask).logits, target, output)
    (grad,) = torch.autograd.grad(score.sum(), e)  # rows are independent: the sum's gradient is per row
    return (grad * e).sum(-1).detach()


def integrated_gradients(model, input_ids, attention_mask=None, target=None, baseline_ids=None,
                         steps: int = 32, output: str = "probability"):
    """(scores (batch, T), F(input) (batch,), F(baseline) (batch,)).

    Completeness: scores.sum(-1) is close to F(input) - F(baseline); the gap shrinks as ``steps`` grows.
    ``baseline_ids`` (batch, T): the input at alpha = 0; by default ``input_ids`` itself (pass one from
    :func:`masked_baseline`). The ``steps`` points of the path run as one batch per sentence.
    """
    table = word_embedding_layer(model)
    if target is None:
        target, _ = predict(model, input_ids, attention_mask)
    baseline_ids = input_ids if baseline_ids is None else baseline_ids
    alphas = (torch.arange(steps, device=input_ids.device, dtype=torch.float32) + 0.5) / steps  # midpoints
    scores, f_input, f_baseline = [], [], []
    for i in range(input_ids.shape[0]):
        ids, mask = input_ids[i:i + 1], None if attention_mask is None else attention_mask[i:i + 1]
        with torch.no_grad():
            e, e0 = table(ids), table(baseline_ids[i:i + 1])
        path = (e0 + alphas[:, None, None] * (e - e0)).requires_grad_(True)  # (steps, T, hidden)
        many = ids.expand(steps, -1)
        with replaced_word_embeddings(model, path):
            f = class_score(model(many, attention_mask=None if mask is None else mask.expand(steps, -1)).logits,
                            target[i:i + 1].expand(steps), output)
        (grad,) = torch.autograd.grad(f.sum(), path)
        scores.append(((e - e0) * grad.mean(0, keepdim=True)).sum(-1).detach())
        with torch.no_grad():
            ends = torch.cat([e, e0])
            with replaced_word_embeddings(model, ends):
                both = model(ids.expand(2, -1), attention_mask=None if mask is None else mask.expand(2, -1)).logits
            f_both = class_score(both, target[i:i + 1].expand(2), output)
        f_input.append(f_both[0])
        f_baseline.append(f_both[1])
    return torch.cat(scores), torch.stack(f_input), torch.stack(f_baseline)


def masked_baseline(input_ids, attention_mask, special_ids, mask_token_id: int) -> torch.Tensor:
    """The input with every ordinary token replaced by [MASK]: the 'nothing to read' end of the IG path."""
    return input_ids.masked_fill(ordinary_tokens(input_ids, attention_mask, special_ids), mask_token_id)


@torch.no_grad()
def attention_scores(model, input_ids, attention_mask=None, layer: int = -1) -> torch.Tensor:
    """(batch, T): the attention of the [CLS] query to each token in ``layer``, averaged over the heads."""
    attentions = model(input_ids, attention_mask=attention_mask, output_attentions=True).attentions
    return attentions[layer][:, :, 0, :].mean(1)


@torch.no_grad()
def attention_rollout(model, input_ids, attention_mask=None) -> torch.Tensor:
    """(batch, T): attention rollout (Abnar and Zuidema 2020), the [CLS] row of the product over layers of
    0.5 * (mean-over-heads attention) + 0.5 * identity (the residual connection), rows renormalised."""
    attentions = model(input_ids, attention_mask=attention_mask, output_attentions=True).attentions
    T = input_ids.shape[1]
    eye = torch.eye(T, device=input_ids.device)
    rollout = eye.expand(input_ids.shape[0], T, T)
    for a in attentions:  # layer 0 first: the product is (layer L ... layer 1) applied to the input
        a = 0.5 * a.mean(1) + 0.5 * eye
        rollout = (a / a.sum(-1, keepdim=True)) @ rollout
    return rollout[:, 0, :]


def random_scores(input_ids, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scores that rank the tokens in a random order: the baseline every lens must beat."""
    return torch.rand(input_ids.shape, generator=generator).to(input_ids.device)


def top_k_mask(scores: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """(batch, T) True at the k candidate positions with the highest scores (all of them if fewer than k)."""
    ranked = scores.float().masked_fill(~candidates, float("-inf"))
    k = min(k, scores.shape[1])
    chosen = torch.zeros_like(candidates)
    chosen.scatter_(1, ranked.topk(k, dim=1).indices, True)
    return chosen & candidates


@torch.no_grad()
def deletion_drops(model, input_ids, attention_mask, scores: torch.Tensor, ks, special_ids,
                   mask_token_id: int, target=None, p_target=None) -> torch.Tensor:
    """(batch, len(ks)): probability of the predicted class before, minus after replacing the top-k tokens
    by ``scores`` with [MASK]. A larger drop means the deleted tokens mattered more to the prediction."""
    if target is None or p_target is None:
        target, p_target = predict(model, input_ids, attention_mask)
    candidates = ordinary_tokens(input_ids, attention_mask, special_ids)
    drops = []
    for k in ks:
        deleted = input_ids.masked_fill(top_k_mask(scores, candidates, k), mask_token_id)
        p = class_score(model(deleted, attention_mask=attention_mask).logits, target)
        drops.append(p_target - p)
    return torch.stack(drops, dim=1)


LENSES = ("gradient x input", "integrated gradients", "attention (last layer)", "attention rollout", "random")


def lens_scores(model, input_ids, attention_mask, special_ids, mask_token_id: int,
                steps: int = 16) -> dict[str, torch.Tensor]:
    """The (batch, T) scores of every lens but the random one, explaining the predicted class."""
    target, _ = predict(model, input_ids, attention_mask)
    baseline = masked_baseline(input_ids, attention_mask, special_ids, mask_token_id)
    ig, _, _ = integrated_gradients(model, input_ids, attention_mask, target, baseline, steps)
    return {"gradient x input": gradient_x_input(model, input_ids, attention_mask, target),
            "integrated gradients": ig,
            "attention (last layer)": attention_scores(model, input_ids, attention_mask),
            "attention rollout": attention_rollout(model, input_ids, attention_mask)}


def deletion_test(model, tokenizer, texts, ks=(1, 2, 3, 4, 5), steps: int = 16, random_draws: int = 3,
                  batch_size: int = 16, max_length: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """{lens: (sentences, len(ks)) probability drops} for every lens of :func:`lens_scores` (module docstring);
    the random lens is averaged over ``random_draws`` orders per sentence."""
    device = next(model.parameters()).device
    special = tokenizer.all_special_ids
    generator = torch.Generator().manual_seed(seed)
    drops = {name: [] for name in LENSES}
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        target, p = predict(model, ids, mask)
        scores = lens_scores(model, ids, mask, special, tokenizer.mask_token_id, steps)
        for name in LENSES:
            draws = random_draws if name == "random" else 1
            total = 0
            for _ in range(draws):
                s = random_scores(ids, generator) if name == "random" else scores[name]
                total = total + deletion_drops(model, ids, mask, s, ks, special, tokenizer.mask_token_id, target, p)
            drops[name].append((total / draws).cpu())
    return {name: torch.cat(rows) for name, rows in drops.items()}
