"""Making a fine-tuned BERT smaller and faster after training: int8 quantization and head pruning (notebook 12).

**Dynamic int8 quantization** (``torch.ao.quantization.quantize_dynamic``): every ``nn.Linear`` keeps its
weights as 8-bit integers with one float scale per matrix (4x smaller than float32) and quantizes its input
on the fly, batch by batch, to multiply in int8. Embeddings, LayerNorm and softmax stay in float32. It runs on
the CPU only. (PyTorch marks ``torch.ao.quantization`` as deprecated in favour of the separate ``torchao``
package; the API used here still works and is the one most tutorials show, so we silence the warning.)

**Head pruning** (Michel, Levy and Neubig 2019, *Are Sixteen Heads Really Better than One?*): multiply each
head's output by a gate xi_h (the ``head_mask``: 1 = keep, 0 = remove). The importance of head h is the
expected absolute change of the loss when its gate moves, to first order

    I_h = E_x | dL(x) / d xi_h |,   taken at xi = 1 (every head on),

one backward pass per batch for all heads at once; Michel et al. normalise it per layer (L2). Removing the
least important heads first should cost less accuracy than removing heads at random.
"""

from __future__ import annotations

import copy
import random
import warnings

import torch


def quantize_int8(model) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a dynamically quantized int8 version (CPU)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notices of torch.ao.quantization (module docstring)
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8)


def _batches(features: list[dict], batch_size: int, pad_token_id: int):
    from bert_edu.data.batching import collate, sorted_batches

    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        yield collate([features[i] for i in idx], pad_token_id)


def head_importance(model, features: list[dict], batch_size: int = 32, pad_token_id: int = 0,
                    normalise: bool = True) -> torch.Tensor:
    """(layers, heads): sum over batches of |d loss / d head_mask| at head_mask = 1 (module docstring);
    with ``normalise``, each layer's scores are divided by their L2 norm, as Michel et al. do."""
    config = model.config
    weight = next(model.parameters())
    device = weight.device
    gate = torch.ones(config.num_hidden_layers, config.num_attention_heads, device=device, dtype=weight.dtype,
                      requires_grad=True)
    importance = torch.zeros_like(gate)
    model.eval()  # no dropout: the gradient of the model we evaluate
    for batch in _batches(features, batch_size, pad_token_id):
        loss = model(batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                     labels=batch["labels"].to(device), head_mask=gate).loss
        (grad,) = torch.autograd.grad(loss, gate)
        importance += grad.abs()
    importance = importance.detach().cpu()
    if normalise:
        importance = importance / importance.norm(dim=1, keepdim=True).clamp_min(1e-20)
    return importance


@torch.no_grad()
def accuracy(model, features: list[dict], head_mask=None, batch_size: int = 64, pad_token_id: int = 0) -> float:
    """Accuracy on labelled ``features``, optionally with some heads removed (``head_mask`` (layers, heads))."""
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    for batch in _batches(features, batch_size, pad_token_id):
        kwargs = {} if head_mask is None else {"head_mask": head_mask.to(device)}
        logits = model(batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                       **kwargs).logits
        correct += (logits.argmax(-1).cpu() == batch["labels"]).sum().item()
    return correct / len(features)


def mask_without(order, n: int, layers: int, heads: int) -> torch.Tensor:
    """A head mask with the first ``n`` heads of ``order`` (a list of (layer, head)) set to 0."""
    mask = torch.ones(layers, heads)
    for layer, head in order[:n]:
        mask[layer, head] = 0.0
    return mask


def least_important_first(importance: torch.Tensor) -> list[tuple[int, int]]:
    """All heads as (layer, head), from the least to the most important."""
    heads = importance.shape[1]
    return [(int(i) // heads, int(i) % heads) for i in importance.flatten().argsort()]


def random_order(layers: int, heads: int, seed: int) -> list[tuple[int, int]]:
    """All heads in a random order: the baseline of the pruning curve."""
    order = [(layer, head) for layer in range(layers) for head in range(heads)]
    random.Random(seed).shuffle(order)
    return order


def pruning_curve(model, features: list[dict], order, counts, batch_size: int = 64,
                  pad_token_id: int = 0) -> list[float]:
    """Accuracy after removing the first n heads of ``order``, for each n in ``counts``."""
    L, H = model.config.num_hidden_layers, model.config.num_attention_heads
    return [accuracy(model, features, mask_without(order, n, L, H), batch_size, pad_token_id) for n in counts]


@torch.no_grad()
def single_head_loss_change(model, features: list[dict], heads, batch_size: int = 64, pad_token_id: int = 0):
    """For each (layer, head) in ``heads``: mean loss with that head removed minus the mean loss with all heads
    (the exact effect that the gradient importance estimates to first order)."""
    device = next(model.parameters()).device
    L, H = model.config.num_hidden_layers, model.config.num_attention_heads
    batches = list(_batches(features, batch_size, pad_token_id))

    def mean_loss(mask):
        total = 0.0
        for b in batches:
            out = model(b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device),
                        labels=b["labels"].to(device), head_mask=mask.to(device))
            total += out.loss.item() * len(b["labels"])
        return total / len(features)

    base = mean_loss(torch.ones(L, H))
    return torch.tensor([mean_loss(mask_without([h], 1, L, H)) - base for h in heads])


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of two 1-D sequences (no ties expected: real-valued scores)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb / (ra.norm() * rb.norm())).item()
