"""What BERT costs: training FLOPs on paper, and inference time measured (notebook 12).

Training compute per token, for a Transformer encoder with N parameters in its matrix multiplications
(Kaplan et al. 2020, *Scaling Laws for Neural Language Models*, section 2.1; the attention term as in
Chowdhery et al. 2022, *PaLM*, appendix B):

    6 N                  every weight is used in one multiply-add (2 FLOPs) forward and two backward
    + 12 L d T           attention scores Q K^T and the weighted sum A V: 2 x 2 T d FLOPs per layer forward,
                         x 3 with the backward pass (L layers, width d, sequence length T)
    + 6 (d^2 + d V) f    the MLM head (transform + vocabulary projection), only at the share f of positions
                         that are masked (15%); the embedding lookups themselves cost no multiplications

Total = per-token cost x tokens seen (steps x batch x sequence length). This ignores LayerNorm, softmax,
GELU and the optimiser (a few percent) and assumes every position is a real token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

# BERT-base's pretraining run, as published (Devlin et al. 2019, BERT, appendix A.2): 1,000,000 steps of 256
# sequences; "sequence length of 128 for 90% of the steps", then 512 for the remaining 10%; "4 Cloud TPUs in
# Pod configuration (16 TPU chips total)"; "each pretraining took 4 days to complete".
BERT_BASE_RUN = dict(steps=1_000_000, batch_size=256, phases=((0.9, 128), (0.1, 512)), days=4,
                     hardware="4 Cloud TPUs (16 TPU chips)")
BERT_BASE = dict(num_hidden_layers=12, hidden_size=768, intermediate_size=3072, vocab_size=30522)
MLM_FRACTION = 0.15  # BERT masks 15% of the positions; only those go through the vocabulary projection


@dataclass
class Shape:
    """The sizes that set the cost: layers L, width d, feed-forward width, vocabulary V."""
    num_hidden_layers: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int

    @classmethod
    def of(cls, config) -> "Shape":
        get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
        return cls(*(get(k) for k in ("num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size")))


def layer_parameters(shape: Shape) -> int:
    """Parameters of the encoder layers: Q, K, V, O (4 d^2 + biases), the feed-forward (2 d d_ff + biases) and
    two LayerNorms (4 d), per layer; everything but the embeddings, the pooler and the heads."""
    d, ff = shape.hidden_size, shape.intermediate_size
    return shape.num_hidden_layers * (4 * d * d + 4 * d + 2 * d * ff + d + ff + 4 * d)


def training_flops_per_token(shape: Shape, seq_len: int, mlm_fraction: float = MLM_FRACTION) -> dict:
    """FLOPs per training token, by part: {'layers', 'attention', 'mlm head', 'total'} (module docstring)."""
    d, V = shape.hidden_size, shape.vocab_size
    parts = {"layers": 6 * layer_parameters(shape),
             "attention": 12 * shape.num_hidden_layers * d * seq_len,
             "mlm head": 6 * (d * d + d * V) * mlm_fraction}
    parts["total"] = sum(parts.values())
    return parts


def run_flops(shape: Shape, steps: int, batch_size: int, phases) -> dict:
    """Total training FLOPs and tokens of a run; ``phases`` = ((share of the steps, sequence length), ...)."""
    flops = tokens = 0.0
    for share, seq_len in phases:
        n = share * steps * batch_size * seq_len
        tokens += n
        flops += n * training_flops_per_token(shape, seq_len)["total"]
    return {"tokens": tokens, "flops": flops}


def matmul_flops_per_second(n: int = 1024, repeats: int = 5, device="cpu", dtype=torch.float32) -> float:
    """Measured FLOP/s of one n x n matrix product (2 n^3 FLOPs), median of ``repeats``: about the best rate
    this machine reaches on the large matrix products training is made of."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / sorted(times)[len(times) // 2]


def median_seconds(fn, repeats: int = 5) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def latency_by_length(model, lengths, batch_size: int = 1, repeats: int = 5, vocab_low: int = 1000) -> list[float]:
    """Median seconds of one forward pass of ``batch_size`` random sequences of each length (no padding)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(0)
    out = []
    for T in lengths:
        ids = torch.randint(vocab_low, model.config.vocab_size, (batch_size, T), generator=generator).to(device)

        def forward():
            model(ids)
            if device.type == "cuda":
                torch.cuda.synchronize()

        out.append(median_seconds(forward, repeats))
    return out


@torch.no_grad()
def ms_per_sentence(model, features: list[dict], batch_size: int = 1, repeats: int = 3,
                    pad_token_id: int = 0) -> float:
    """Median over ``repeats`` of the time to classify ``features`` in batches of ``batch_size``, in ms per
    sentence (with ``batch_size=1``, the latency one request sees)."""
    from bert_edu.data.batching import collate

    model.eval()
    device = next(model.parameters()).device
    batches = []
    for i in range(0, len(features), batch_size):
        b = collate([{"input_ids": f["input_ids"]} for f in features[i:i + batch_size]], pad_token_id)
        batches.append((b["input_ids"].to(device), b["attention_mask"].to(device)))

    def run_all():
        for ids, mask in batches:
            model(ids, attention_mask=mask)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return 1000 * median_seconds(run_all, repeats) / len(features)


def model_bytes(model) -> int:
    """Size of the model's saved weights in bytes (its state dict serialised with torch.save): for an
    int8-quantised model this counts the packed int8 weights and their scales."""
    import io

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
