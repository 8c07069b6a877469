"""Inference speed: our BertModel vs transformers.BertModel (sdpa), same MiniLM weights, same run.

    python benchmarks/bench_inference.py                 # CPU, all threads
    python benchmarks/bench_inference.py --threads 2 --repeats 30
    python benchmarks/bench_inference.py --device cuda   # if you have a GPU

For each (batch, sequence length) both models run the same padded batch under torch.inference_mode(),
alternating (so a noisy neighbour slows both alike), after warm-up; we report the median time of each
and the ratio theirs / ours (> 1.0: ours is faster). Outputs are checked to agree before timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

SHAPES = [(1, 16), (1, 128), (8, 64), (32, 32), (16, 128), (8, 256)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_batch(batch: int, seq_len: int, vocab: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(batch * 1000 + seq_len)
    ids = torch.randint(1000, vocab, (batch, seq_len), generator=g)
    mask = torch.ones_like(ids)
    for b in range(batch):  # realistic padding: every other sentence is 3/4 long
        if b % 2:
            mask[b, seq_len * 3 // 4:] = 0
            ids[b, seq_len * 3 // 4:] = 0
    ids[:, 0] = 101
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def time_pair(ours, theirs, inputs, warmup: int, repeats: int, device) -> tuple[float, float]:
    t_ours, t_theirs = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            ours(**inputs)
            theirs(**inputs)
        for _ in range(repeats):
            for model, times in ((ours, t_ours), (theirs, t_theirs)):
                _sync(device)
                start = time.perf_counter()
                model(**inputs)
                _sync(device)
                times.append(time.perf_counter() - start)
    return statistics.median(t_ours), statistics.median(t_theirs)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from bert_edu import BertModel
    from bert_edu.data.assets import minilm_path

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    path = minilm_path()
    ours = BertModel.from_pretrained(path, verbose=False).to(device, dtype).eval()
    theirs = transformers.BertModel.from_pretrained(path, attn_implementation="sdpa").to(device, dtype).eval()
    vocab = ours.config.vocab_size

    print(f"all-MiniLM-L6-v2 inference, {device} {args.dtype}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"median of {args.repeats} (load avg {os.getloadavg()[0]:.1f})")
    print(f"{'batch':>5} {'seq':>5} {'ours ms':>9} {'transformers ms':>16} {'ratio':>7}")
    ratios = []
    for batch, seq_len in SHAPES:
        inputs = make_batch(batch, seq_len, vocab, device)
        with torch.inference_mode():  # same numbers first, then speed
            a = ours(**inputs).last_hidden_state.float()
            b = theirs(**inputs).last_hidden_state.float()
        tol = 1e-4 if dtype == torch.float32 else 5e-2
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        t_ours, t_theirs = time_pair(ours, theirs, inputs, args.warmup, args.repeats, device)
        ratios.append(t_theirs / t_ours)
        print(f"{batch:>5} {seq_len:>5} {t_ours * 1e3:>9.2f} {t_theirs * 1e3:>16.2f} {ratios[-1]:>7.2f}")
    geo = statistics.geometric_mean(ratios)
    print(f"geometric mean ratio (transformers time / our time): {geo:.2f}  "
          f"({'ours faster or equal' if geo >= 1.0 else 'ours slower'})")


if __name__ == "__main__":
    main()
