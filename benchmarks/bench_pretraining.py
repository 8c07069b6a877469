"""Pretraining throughput: the command's own training step, our model vs transformers.BertForPreTraining, same run.

    python benchmarks/bench_pretraining.py                          # CPU: tiny model, MiniLM vocabulary
    python benchmarks/bench_pretraining.py --size mini --threads 2
    python benchmarks/bench_pretraining.py --device cuda --dtype bf16 --size base --batch-size 256 --compile
    python benchmarks/bench_pretraining.py --device cuda --dtype auto --size base --json bench.json  # make gpu-check

What is timed: ``bert_edu.train.pretrain.train_step(run)`` itself, the step ``python -m bert_edu.pretrain``
runs: the next batch from the data pipeline (built ahead in a background thread, pinned memory on CUDA),
forward, backward, gradient clipping, AdamW (fused on CUDA), the schedule, with the losses read every
``--log-every`` steps (default: never inside a timed block). Both models start from the same weights, see the
same batches (the course corpus, masked as in training) and get the same levers: TF32, fused AdamW, the
same batch and precision, and ``torch.compile`` with ``--compile``. ``--steps`` back-to-back steps are timed
as one block (CUDA events on a GPU, perf_counter on a CPU), the two models taking turns block by block
(``--rounds``; a noisy neighbour slows both alike); we report the median block. Before timing, the two
losses are checked to agree.

Where our speed comes from: vocabulary logits only at the ~15% selected positions, gathered with a fixed
shape (transformers computes them at every position and then ignores 85%), and
F.scaled_dot_product_attention. Both tie the decoder to the word embeddings.

MFU (model FLOPs utilisation) on a GPU: the FLOPs of a training step from
``bert_edu.analysis.cost.training_flops_per_token`` (6 x the matmul parameters per token, the decoder at the
15% selected positions only, plus the attention's 12 x layers x T x hidden), divided by time and by the chip's
dense (no sparsity) bf16/fp16 tensor-core peak: --peak-tflops, or PEAK_TFLOPS below (NVIDIA's data sheets).
"useful" MFU counts the real tokens; "hardware" MFU counts every position, padding included. For
transformers' model, which computes the decoder at every position, we count the same (useful) FLOPs, so its
MFU shows the work it wastes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bert_edu.analysis.cost import Shape, training_flops_per_token as cost_flops_per_token  # noqa: E402
from bert_edu.data.pretraining import SpecialIds, mask_tokens  # noqa: E402,F401  (kept: older scripts import them)
from bert_edu.train import pretrain  # noqa: E402
from bert_edu.train.common import linear_warmup_decay, make_grad_scaler, make_optimizer  # noqa: E402
from bert_edu.train.device import autocast_dtype  # noqa: E402
from bert_edu.train.pretrain import SIZES, PretrainConfig, build_model, model_config  # noqa: E402,F401

# dense bf16/fp16 tensor-core TFLOP/s (NVIDIA data sheets, without sparsity); the first name found in the
# GPU's name wins, so the longer names come first
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0, "A100": 312.0,
               "L40S": 362.0, "L4": 121.0, "A10": 125.0, "V100": 125.0, "T4": 65.0, "RTX 4090": 165.0,
               "RTX 3090": 71.0}
DTYPES = {"fp32": "no", "fp16": "fp16", "bf16": "bf16", "auto": "auto"}  # --dtype -> --mixed-precision


def peak_tflops(gpu_name: str) -> float | None:
    """The GPU's dense tensor-core peak from PEAK_TFLOPS, or None for a GPU not in the table."""
    return next((peak for name, peak in PEAK_TFLOPS.items() if name in gpu_name), None)


def training_flops_per_token(config: dict, seq_len: int, mlm_fraction: float = 0.15) -> float:
    """Useful FLOPs of one training step per token: bert_edu.analysis.cost's count (one definition)."""
    return cost_flops_per_token(Shape.of(config), seq_len, mlm_fraction)["total"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES),
                   help="autocast dtype on CUDA (auto: bf16 where native, else fp16 + grad scaler); CPU runs fp32")
    p.add_argument("--size", default="tiny", choices=list(SIZES))
    p.add_argument("--vocab", default="minilm", help="the run's --vocab (default: MiniLM's 30,522 tokens)")
    p.add_argument("--corpus", default=None, help="the run's --corpus (default: the course corpus)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="back-to-back steps per timed block")
    p.add_argument("--rounds", type=int, default=3, help="timed blocks per model (the models take turns)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model first (compilation happens here)")
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument("--log-every", type=int, default=0, help="read the losses every N steps inside the timed "
                                                            "blocks (default 0: only after each block)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="dense bf16/fp16 peak of the GPU (default: PEAK_TFLOPS for its name)")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def build_runs(args) -> dict:
    """Our run (``pretrain.setup``: data, model, fused AdamW, schedule) and transformers' twin: the same data,
    the same initial weights, the same optimiser settings and levers."""
    total = args.warmup + args.steps * args.rounds + 1
    log_every = args.log_every or 10**9
    cfg = PretrainConfig(corpus=args.corpus, vocab=args.vocab, size=args.size, seq_len=args.seq_len,
                         batch_size=args.batch_size, max_steps=10**9, lr=1e-4, warmup_steps=total, dropout=0.1,
                         eval_every=0, eval_fraction=0.01, eval_sequences=64, device=args.device,
                         mixed_precision=DTYPES[args.dtype], compile=args.compile, log_every=log_every)
    torch.manual_seed(0)
    ours = pretrain.setup(cfg)
    theirs_model = build_model(ours.model_config, "transformers")
    from bert_edu.model import convert

    missing, unexpected = theirs_model.load_state_dict(convert.ours_to_hf(ours.model), strict=False)
    assert not unexpected and all("decoder" in k for k in missing), (missing, unexpected)
    theirs_model.tie_weights()
    theirs_model = theirs_model.to(ours.device).train()
    optimizer = make_optimizer(theirs_model, cfg.lr, cfg.weight_decay)
    theirs = dataclasses.replace(
        ours, cfg=dataclasses.replace(cfg, impl="transformers"), model=theirs_model,
        train_model=torch.compile(theirs_model) if args.compile else theirs_model, optimizer=optimizer,
        scheduler=linear_warmup_decay(optimizer, total, cfg.max_steps),
        scaler=make_grad_scaler(ours.device, cfg.mixed_precision), history=[], evals=[], pending=[], loader=None)
    return {"ours": ours, "transformers": theirs}


def check_losses(runs: dict) -> tuple[float, float]:
    """The two models' loss on the first batch, eval mode (no dropout): they must agree."""
    ours, theirs = runs["ours"], runs["transformers"]
    batch, counts = ours.data.train_batch(0)
    batch = pretrain.move_to(batch, ours.device)
    common = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                  token_type_ids=batch["token_type_ids"])
    losses = []
    with torch.no_grad(), pretrain.autocast(ours.device, ours.cfg.mixed_precision):
        for run, fast in ((ours, True), (theirs, False)):
            run.model.eval()
            extra = {"masked_lm_positions": batch["masked_lm_positions"]} if fast else {"labels": batch["labels"]}
            mlm, nsp = pretrain.pretraining_loss(run.model(**common, **extra), batch, counts["n_predictions"],
                                                 counts["n_sequences"], at_positions=fast)
            losses.append(float(mlm + nsp))
            run.model.train()
    return losses[0], losses[1]


class Timer:
    """Seconds of a block of work: CUDA events on a GPU (the device's own clock), perf_counter elsewhere."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1000
        else:
            self.seconds = time.perf_counter() - self.t0


def time_steps(runs: dict, warmup: int, steps: int, rounds: int, device: torch.device) -> dict:
    """Per model: seconds per step of each timed block, and the real tokens of the steps timed."""
    for run in runs.values():
        for _ in range(warmup):
            pretrain.train_step(run)
        pretrain.flush(run)
    times = {name: [] for name in runs}
    tokens = {name: 0 for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            first = len(run.history)
            with Timer(device) as timer:
                for _ in range(steps):
                    pretrain.train_step(run)
            pretrain.flush(run)  # outside the block: reading the losses is not part of the step
            times[name].append(timer.seconds / steps)
            tokens[name] += sum(h["tokens"] for h in run.history[first:])
    for run in runs.values():
        if run.loader is not None:
            run.loader.close()
    return {"seconds_per_step": times, "tokens_per_step": {k: v / (steps * rounds) for k, v in tokens.items()}}


def benchmark(args) -> dict:
    """Build both runs, check their losses agree, time them; the results as a dict."""
    device, mixed_precision = torch.device(args.device), DTYPES[args.dtype]
    dtype = autocast_dtype(device, mixed_precision)  # ValueError: e.g. bf16 on a CPU or an old GPU
    runs = build_runs(args)
    config = runs["ours"].model_config
    a, b = check_losses(runs)
    tol = 1e-4 if dtype is None else 5e-2
    assert abs(a - b) < tol * max(1.0, abs(b)), (a, b)
    timed = time_steps(runs, args.warmup, args.steps, args.rounds, device)
    per_token = training_flops_per_token(config, args.seq_len)
    positions = args.batch_size * args.seq_len
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    peak = args.peak_tflops or (peak_tflops(gpu) if gpu else None)
    batch, _ = runs["ours"].data.train_batch(0)
    result = {"device": str(device), "gpu": gpu, "torch": torch.__version__,
              "dtype": {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype],
              "threads": torch.get_num_threads(), "size": args.size, "layers": config["num_hidden_layers"],
              "hidden": config["hidden_size"], "vocab_size": config["vocab_size"],
              "parameters": sum(p.numel() for p in runs["ours"].model.parameters()), "batch_size": args.batch_size,
              "seq_len": args.seq_len, "compile": args.compile, "steps_per_block": args.steps, "rounds": args.rounds,
              "tokens": round(timed["tokens_per_step"]["ours"]), "positions": positions,
              "predicted": int((batch["labels"] != -100).sum()), "loss": {"ours": a, "transformers": b},
              "peak_tflops": peak, "flops_per_token": per_token, "flops_source": "bert_edu.analysis.cost",
              "timing": "CUDA events" if device.type == "cuda" else "perf_counter",
              "step": "bert_edu.train.pretrain.train_step"}
    for name, t in timed["seconds_per_step"].items():
        median = statistics.median(t)
        tokens = timed["tokens_per_step"][name]
        flops = per_token * tokens
        result[name] = {"ms_per_step": median * 1000, "ms_per_step_blocks": [x * 1000 for x in t],
                        "tokens_per_second": tokens / median,
                        "tflops": flops / median / 1e12 if device.type == "cuda" else None,
                        "mfu": flops / median / (peak * 1e12) if peak and device.type == "cuda" else None,
                        "mfu_hardware": (per_token * positions / median / (peak * 1e12)
                                         if peak and device.type == "cuda" else None)}
    result["ratio"] = result["ours"]["tokens_per_second"] / result["transformers"]["tokens_per_second"]
    if device.type == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def report(r: dict) -> None:
    gpu = f" ({r['gpu']})" if r["gpu"] else ""
    print(f"device {r['device']}{gpu}, {r['dtype']}, threads {r['threads']}, compile {r['compile']}; size "
          f"{r['size']} ({r['layers']} layers x {r['hidden']}), vocab {r['vocab_size']:,}, {r['parameters']:,} "
          f"parameters; batch {r['batch_size']} x {r['seq_len']} ({r['tokens']:,} real tokens of {r['positions']:,}, "
          f"{r['predicted']} predicted); {r['rounds']} blocks of {r['steps_per_block']} steps ({r['timing']}); "
          f"loss agrees ({r['loss']['ours']:.4f} vs {r['loss']['transformers']:.4f})")
    for name in ("ours", "transformers"):
        m = r[name]
        line = f"  {name:13s} {m['ms_per_step']:8.1f} ms/step  {m['tokens_per_second']:10,.0f} tokens/s"
        if m["tflops"] is not None:
            line += f"  {m['tflops']:7.1f} TFLOP/s"
        if m["mfu"] is not None:
            line += f"  MFU {m['mfu']:6.1%} useful, {m['mfu_hardware']:6.1%} hardware, of {r['peak_tflops']:.0f} TFLOP/s"
        print(line)
    print(f"  ratio ours / transformers: {r['ratio']:.2f}x tokens/s")
    if "peak_memory_gib" in r:
        print(f"  peak memory {r['peak_memory_gib']:.1f} GiB; FLOPs per token {r['flops_per_token'] / 1e6:.0f} M "
              "(bert_edu.analysis.cost)" + ("" if r["peak_tflops"] else "; MFU: pass --peak-tflops"))


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
