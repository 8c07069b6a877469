"""Pretraining throughput: our BertForPreTraining vs transformers.BertForPreTraining, same run.

    python benchmarks/bench_pretraining.py                          # CPU: tiny model, MiniLM vocabulary
    python benchmarks/bench_pretraining.py --size mini --threads 2
    python benchmarks/bench_pretraining.py --device cuda --dtype bf16 --size base --batch-size 64
    python benchmarks/bench_pretraining.py --device cuda --dtype auto --size base --json bench.json  # make gpu-check

What is timed: one full training step, forward + backward + AdamW step + zero_grad, on the same masked
batch (15% of the non-special tokens selected, 80/10/10, as bert_edu.data.pretraining.mask_tokens), both
models starting from the same weights. The two models alternate step by step (a noisy neighbour slows
both alike); we report the median step time of each as tokens/s and the ratio ours / theirs.
Before timing, the two losses are checked to agree.

Where our speed comes from: vocabulary logits only at the ~15% selected positions (gather before the
decoder; transformers computes them at every position and then ignores 85%), and
F.scaled_dot_product_attention. Both tie the decoder to the word embeddings.

On a GPU it also reports MFU (model FLOPs utilisation): the FLOPs a training step needs, divided by
time and by the chip's dense (no sparsity) bf16/fp16 tensor-core peak: --peak-tflops, or PEAK_TFLOPS below
(from NVIDIA's data sheets) for the GPU's name:

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
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bert_edu.train.pretrain import SIZES, build_model, model_config  # noqa: E402
from bert_edu.data.pretraining import SpecialIds, mask_tokens  # noqa: E402
from bert_edu.train.common import autocast, make_grad_scaler, make_optimizer, skip_input_checks  # noqa: E402
from bert_edu.train.device import autocast_dtype  # noqa: E402

# dense bf16/fp16 tensor-core TFLOP/s (NVIDIA data sheets, without sparsity); the first name found in the
# GPU's name wins, so the longer names come first
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
               "A10": 125.0, "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0, "RTX 3090": 71.0}
DTYPES = {"fp32": "no", "fp16": "fp16", "bf16": "bf16", "auto": "auto"}  # --dtype -> --mixed-precision


def peak_tflops(gpu_name: str) -> float | None:
    """The GPU's dense tensor-core peak from PEAK_TFLOPS, or None for a GPU not in the table."""
    return next((peak for name, peak in PEAK_TFLOPS.items() if name in gpu_name), None)


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


def make_step(model, batch: dict, device: torch.device, mixed_precision: str = "auto"):
    optimizer = make_optimizer(model, 1e-4)
    scaler = make_grad_scaler(device, mixed_precision)  # active for fp16 only

    def step() -> float:
        with autocast(device, mixed_precision):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES),
                   help="autocast dtype on CUDA (auto: bf16 where native, else fp16 + grad scaler); CPU runs fp32")
    p.add_argument("--size", default="tiny", choices=list(SIZES))
    p.add_argument("--vocab-size", type=int, default=30522, help="default: the MiniLM / BERT vocabulary")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="dense bf16/fp16 peak of the GPU (default: PEAK_TFLOPS for its name)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def time_steps(steps: dict, warmup: int, n: int, device: torch.device) -> dict[str, list[float]]:
    """The two models alternate step by step, so a noisy neighbour slows both alike."""
    times = {name: [] for name in steps}
    for _ in range(warmup):
        for step in steps.values():
            step()
    _sync(device)
    for _ in range(n):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def benchmark(args) -> dict:
    """Build both models, check their losses agree, time them; the results as a dict."""
    device, mixed_precision = torch.device(args.device), DTYPES[args.dtype]
    dtype = autocast_dtype(device, mixed_precision)  # ValueError: e.g. bf16 on a CPU or an old GPU
    config = model_config(args.size, args.vocab_size, dropout=0.1)
    ours, theirs = build_pair(config, device)
    skip_input_checks(ours)  # as in our training loop: no token-id check (a GPU sync) per step
    batch = make_batch(args.batch_size, args.seq_len, args.vocab_size, device)
    tokens = int(batch["attention_mask"].sum())
    with torch.no_grad(), autocast(device, mixed_precision):
        ours.eval(), theirs.eval()
        a, b = ours(**batch).loss.float().item(), theirs(**batch).loss.float().item()
        ours.train(), theirs.train()
    tol = 1e-4 if dtype is None else 5e-2
    assert abs(a - b) < tol * max(1.0, abs(b)), (a, b)
    steps = {"ours": make_step(ours, batch, device, mixed_precision),
             "transformers": make_step(theirs, batch, device, mixed_precision)}
    times = time_steps(steps, args.warmup, args.steps, device)
    flops = training_flops_per_token(config, args.seq_len) * tokens
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    peak = args.peak_tflops or (peak_tflops(gpu) if gpu else None)
    result = {"device": str(device), "gpu": gpu, "dtype": {None: "fp32", torch.float16: "fp16",
                                                           torch.bfloat16: "bf16"}[dtype],
              "threads": torch.get_num_threads(), "size": args.size, "layers": config["num_hidden_layers"],
              "hidden": config["hidden_size"], "vocab_size": args.vocab_size,
              "parameters": sum(p.numel() for p in ours.parameters()), "batch_size": args.batch_size,
              "seq_len": args.seq_len, "tokens": tokens, "predicted": int((batch["labels"] != -100).sum()),
              "loss": {"ours": a, "transformers": b}, "peak_tflops": peak,
              "flops_per_token": training_flops_per_token(config, args.seq_len)}
    for name, t in times.items():
        median = statistics.median(t)
        result[name] = {"ms_per_step": median * 1000, "tokens_per_second": tokens / median,
                        "tflops": flops / median / 1e12 if device.type == "cuda" else None,
                        "mfu": flops / median / (peak * 1e12) if peak and device.type == "cuda" else None}
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def report(r: dict) -> None:
    gpu = f" ({r['gpu']})" if r["gpu"] else ""
    print(f"device {r['device']}{gpu}, {r['dtype']}, "
          f"threads {r['threads']}; size {r['size']} ({r['layers']} layers x {r['hidden']}), "
          f"vocab {r['vocab_size']:,}, {r['parameters']:,} parameters; batch {r['batch_size']} x {r['seq_len']} "
          f"({r['tokens']:,} real tokens, {r['predicted']} predicted); loss agrees "
          f"({r['loss']['ours']:.4f} vs {r['loss']['transformers']:.4f})")
    for name in ("ours", "transformers"):
        m = r[name]
        line = f"  {name:13s} {m['ms_per_step']:8.1f} ms/step  {m['tokens_per_second']:10,.0f} tokens/s"
        if m["tflops"] is not None:
            line += f"  {m['tflops']:7.1f} TFLOP/s"
        if m["mfu"] is not None:
            line += f"  MFU {m['mfu']:6.1%} of {r['peak_tflops']:.0f} TFLOP/s"
        print(line)
    print(f"  ratio ours / transformers: "
          f"{r['ours']['tokens_per_second'] / r['transformers']['tokens_per_second']:.2f}x tokens/s")
    if "peak_memory_gib" in r:
        print(f"  peak memory {r['peak_memory_gib']:.1f} GiB; FLOPs per token {r['flops_per_token'] / 1e6:.0f} M "
              "(useful work, see docstring)" + ("" if r["peak_tflops"] else "; MFU: pass --peak-tflops"))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = benchmark(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
