"""``python -m bert_edu.data``: the course's data as files, for the command lines and for other software
(notebook 08's split, notebook 07's corpus)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bert_edu.data.assets import AssetError
from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus
from bert_edu.data.sentiment import write_sentiment_splits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.data",
                                     description="Write the course's data to files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sentiment", help="the fixed sentiment split as train/validation/test .csv files")
    p.add_argument("out_dir")
    p = sub.add_parser("corpus", help="the pretraining corpus (one sentence per line, blank line between "
                                      "documents) copied to a file")
    p.add_argument("out_file")
    args = parser.parse_args(argv)
    try:
        if args.command == "sentiment":
            for name, path in write_sentiment_splits(Path(args.out_dir)).items():
                n = sum(1 for _ in open(path, encoding="utf-8")) - 1
                print(f"{name:10s} {n:6,d} sentences -> {path}")
        else:
            documents = read_corpus(corpus_path())
            print(f"{len(documents):,} documents -> {write_corpus(documents, Path(args.out_file))}")
    except (OSError, AssetError) as err:  # e.g. a folder we may not write, or an asset we cannot fetch
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
