"""How fast is our pure-Python tokenizer? Tokenize the whole course corpus (~16k sentences) with

* ours: ``bert_edu.BertTokenizer`` (pure Python, per-word WordPiece memoised),
* ``transformers.BertTokenizerLegacy``: transformers' pure-Python BERT tokenizer (in transformers 5,
  ``BertTokenizer`` is the Rust-backed one; the old Python class lives on under this name),
* ``transformers.BertTokenizer``: the Rust ``tokenizers`` backend behind transformers' Python wrapper,
* the Rust backend alone (``backend_tokenizer.encode_batch``), for context,

all in the same run, and print the time of each and the ratios. Also checks that the ids are identical.

    python benchmarks/bench_tokenizer.py [--repeat 3]

Timings on a shared machine are noisy: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tokenizer; the best is reported")
    args = parser.parse_args(argv)

    from transformers import BertTokenizer as HFBertTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from bert_edu.data import corpus
    from bert_edu.data.assets import minilm_path
    from bert_edu.text.tokenizer import BertTokenizer

    sentences = [s for doc in corpus.read_corpus(corpus.corpus_path()) for s in doc]
    words = sum(len(s.split()) for s in sentences)
    print(f"corpus: {len(sentences):,} sentences, {words:,} words; best of {args.repeat} runs; "
          f"load average {os.getloadavg()[0]:.1f}")

    ours = BertTokenizer.from_pretrained(minilm_path())
    legacy = BertTokenizerLegacy.from_pretrained(minilm_path())
    rust = HFBertTokenizer.from_pretrained(minilm_path())

    def ours_cold():
        ours._word_to_ids.cache_clear()  # every word looked up afresh at first
        return [ours(s)["input_ids"] for s in sentences]

    def ours_batch():
        return ours(sentences)["input_ids"]

    results = {
        "ours, one call per sentence (cold word cache)": best_of(ours_cold, args.repeat),
        "ours, one batch call (warm word cache)": best_of(ours_batch, args.repeat),
        "transformers.BertTokenizerLegacy (pure Python), one call per sentence":
            best_of(lambda: [legacy(s)["input_ids"] for s in sentences], args.repeat),
        "transformers.BertTokenizer (Rust), one call per sentence":
            best_of(lambda: [rust(s)["input_ids"] for s in sentences], args.repeat),
        "transformers.BertTokenizer (Rust), one batch call":
            best_of(lambda: rust(sentences)["input_ids"], args.repeat),
        # the Rust library alone, without the transformers wrapper (for context: its raw speed)
        "tokenizers (Rust backend alone), encode_batch":
            best_of(lambda: [e.ids for e in rust.backend_tokenizer.encode_batch(sentences)], args.repeat),
    }
    width = max(map(len, results))
    for name, seconds in results.items():
        print(f"  {name:<{width}}  {seconds:6.2f} s  ({len(sentences) / seconds:8,.0f} sentences/s)")

    ours_t = results["ours, one call per sentence (cold word cache)"]
    print(f"ours vs pure-Python transformers (per sentence): "
          f"{results['transformers.BertTokenizerLegacy (pure Python), one call per sentence'] / ours_t:.1f}x faster")
    print(f"ours vs Rust transformers (per sentence):        "
          f"{results['transformers.BertTokenizer (Rust), one call per sentence'] / ours_t:.2f}x "
          f"(>1 means ours is faster)")
    raw_ratio = (results["tokenizers (Rust backend alone), encode_batch"]
                 / results["ours, one batch call (warm word cache)"])
    print(f"ours vs the Rust backend alone (batch):          {raw_ratio:.2f}x (>1 means ours is faster)")
    batch_ratio = (results["transformers.BertTokenizer (Rust), one batch call"]
                   / results["ours, one batch call (warm word cache)"])
    print(f"ours vs Rust transformers (batch):               {batch_ratio:.2f}x (>1 means ours is faster)")

    ids_ours = ours_batch()
    ids_rust = rust(sentences)["input_ids"]
    ids_legacy = [legacy(s)["input_ids"] for s in sentences]
    same_rust = sum(a == b for a, b in zip(ids_ours, ids_rust))
    same_legacy = sum(a == b for a, b in zip(ids_ours, ids_legacy))
    print(f"identical input_ids: {same_rust}/{len(sentences)} vs Rust, {same_legacy}/{len(sentences)} vs legacy")
    return 0 if same_rust == len(sentences) else 1


if __name__ == "__main__":
    raise SystemExit(main())
