"""Pretraining throughput: our BertForPreTraining vs transformers.BertForPreTraining, same run.

    python benchmarks/bench_pretraining.py                          # CPU: tiny model, MiniLM vocabulary
    python benchmarks/bench_pretraining.py --size mini --threads 2
    python benchmarks/bench_pretraining.py --device cuda --dtype bf16 --size base --batch-size 64

What is timed: one full training step, forward + backward + AdamW step + zero_grad, on the same masked
batch (15% of the non-special tokens selected, 80/10/10, as bert_edu.data.pretraining.mask_tokens), both
models starting from the same weights. The two models alternate step by step (a noisy neighbour slows
both alike); we report the median step time of each as tokens/s and the ratio ours / theirs.
Before timing, the two losses are checked to agree.

Where our speed comes from: vocabulary logits only at the ~15% selected positions (gather before the
decoder; transformers computes them at every position and then ignores 85%), and
F.scaled_dot_product_attention. Both tie the decoder to the word embeddings.

On a GPU it also reports MFU (model FLOPs utilisation): the FLOPs a training step needs, divided by
time and by the chip's dense peak (--peak-tflops, default 989 = H200/H100 SXM bf16 dense):

    FLOPs per token = 6 x (matmul parameters used per token) + attention
        matmul parameters per token = encoder + pooler weights + MLM transform
                                      + 0.15 x (vocab x hidden) (the decoder runs at the selected 15% only)
        attention = 12 x layers x T x hidden (QK^T and AV: 2 x 2 x T x hidden multiply-adds forward, x3
                    for forward + backward)

Embedding look-ups are not matmuls and are not counted. For transformers' model, which computes the
decoder at every position, we count the same (useful) FLOPs, so its MFU shows the work it wastes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bert_edu.train.pretrain import SIZES, build_model, model_config  # noqa: E402
from bert_edu.data.pretraining import SpecialIds, mask_tokens  # noqa: E402
from bert_edu.train.common import autocast, make_optimizer  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_batch(batch_size: int, seq_len: int, vocab_size: int, device: torch.device) -> dict:
    """Realistic pretraining inputs: [CLS] A [SEP] B [SEP], 1 in 8 rows shorter (padded), 15% masked."""
    ids = SpecialIds(cls=101, sep=102, pad=0, mask=103, vocab_size=vocab_size, special=(0, 100, 101, 102, 103))
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1000, vocab_size, (batch_size, seq_len), generator=g)
    attention_mask = torch.ones_like(input_ids)
    token_type_ids = torch.zeros_like(input_ids)
    for row in range(batch_size):
        n = seq_len if row % 8 else seq_len // 2
        input_ids[row, 0], input_ids[row, n // 2], input_ids[row, n - 1] = ids.cls, ids.sep, ids.sep
        input_ids[row, n:], attention_mask[row, n:] = ids.pad, 0
        token_type_ids[row, n // 2 + 1:n] = 1
    masked, labels = mask_tokens(input_ids, ids, g)
    batch = dict(input_ids=masked, attention_mask=attention_mask, token_type_ids=token_type_ids, labels=labels,
                 next_sentence_label=torch.arange(batch_size) % 2)
    return {k: v.to(device) for k, v in batch.items()}


def training_flops_per_token(config: dict, seq_len: int, mlm_fraction: float = 0.15) -> float:
    """Useful FLOPs of one training step per token (see the module docstring)."""
    h, layers, inter, vocab = (config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"],
                               config["vocab_size"])
    per_layer = 4 * h * h + 2 * h * inter  # Q, K, V, O and the two feed-forward matrices
    matmul_params = layers * per_layer + h * h + h * h + mlm_fraction * vocab * h  # + pooler, MLM transform
    attention = 12 * layers * seq_len * h
    return 6 * matmul_params + attention


def build_pair(config: dict, device: torch.device):
    """Ours and transformers', with identical weights (ours saved, theirs loaded from the same state)."""
    torch.manual_seed(0)
    ours = build_model(config, "bert_edu")
    theirs = build_model(config, "transformers")
    from bert_edu.model import convert

    missing, unexpected = theirs.load_state_dict(convert.ours_to_hf(ours), strict=False)
    assert not unexpected and all("decoder" in k for k in missing), (missing, unexpected)
    theirs.tie_weights()
    return ours.to(device).train(), theirs.to(device).train()


def make_step(model, batch: dict, device: torch.device):
    optimizer = make_optimizer(model, 1e-4)

    def step() -> float:
        with autocast(device):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"],
                   help="bf16 = autocast on CUDA (bert_edu.train.common.autocast); CPU runs fp32")
    p.add_argument("--size", default="tiny", choices=list(SIZES))
    p.add_argument("--vocab-size", type=int, default=30522, help="default: the MiniLM / BERT vocabulary")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H200: 989)")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtype == "bf16" and device.type != "cuda":
        raise SystemExit("--dtype bf16 is for CUDA (on CPU, autocast is slower than fp32 at these sizes)")
    config = model_config(args.size, args.vocab_size, dropout=0.1)
    ours, theirs = build_pair(config, device)
    batch = make_batch(args.batch_size, args.seq_len, args.vocab_size, device)
    tokens = int(batch["attention_mask"].sum())
    with torch.no_grad(), autocast(device):
        ours.eval(), theirs.eval()
        a, b = ours(**batch).loss.float(), theirs(**batch).loss.float()
        ours.train(), theirs.train()
    tol = 1e-4 if args.dtype == "fp32" else 5e-2
    assert abs(a.item() - b.item()) < tol * max(1.0, abs(b.item())), (a.item(), b.item())

    n_params = sum(p.numel() for p in ours.parameters())
    print(f"device {device} ({args.dtype}), threads {torch.get_num_threads()}; size {args.size} "
          f"({config['num_hidden_layers']} layers x {config['hidden_size']}), vocab {args.vocab_size:,}, "
          f"{n_params:,} parameters; batch {args.batch_size} x {args.seq_len} ({tokens:,} real tokens, "
          f"{int((batch['labels'] != -100).sum())} predicted); loss agrees ({a.item():.4f} vs {b.item():.4f})")
    steps = {"ours": make_step(ours, batch, device), "transformers": make_step(theirs, batch, device)}
    times = {name: [] for name in steps}
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    _sync(device)
    for _ in range(args.steps):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    flops = training_flops_per_token(config, args.seq_len) * tokens
    speed = {}
    for name, t in times.items():
        median = statistics.median(t)
        speed[name] = tokens / median
        line = f"  {name:13s} {median * 1000:8.1f} ms/step  {speed[name]:10,.0f} tokens/s"
        if device.type == "cuda":
            mfu = flops / median / (args.peak_tflops * 1e12)
            line += f"  {flops / median / 1e12:7.1f} TFLOP/s  MFU {mfu:6.1%}"
        print(line)
    print(f"  ratio ours / transformers: {speed['ours'] / speed['transformers']:.2f}x tokens/s")
    if device.type == "cuda":
        print(f"  peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB; FLOPs per token "
              f"{training_flops_per_token(config, args.seq_len) / 1e6:.0f} M (useful work, see docstring)")


if __name__ == "__main__":
    main()
