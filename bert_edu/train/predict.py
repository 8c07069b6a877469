"""Classify texts with a fine-tuned model folder (from ``python -m bert_edu.finetune``).

    python -m bert_edu.predict --model runs/sentiment "A gorgeous, witty film." "Two hours I will never get back."
    cat reviews.txt | python -m bert_edu.predict --model runs/sentiment      # one text per line

Prints one line per text: the predicted label, its probability and the text, tab-separated
(``--json`` prints one JSON object per line instead, with the probability of every label).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def load_classifier(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder``."""
    from bert_edu import BertForSequenceClassification
    from bert_edu.train.finetune import load_tokenizer

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no model (no config.json); pass the --out folder of "
                                "python -m bert_edu.finetune")
    model = BertForSequenceClassification.from_pretrained(folder, verbose=False)
    if device is not None:
        model.to(device)
    return model.eval(), load_tokenizer(folder)


@torch.no_grad()
def classify(model, tokenizer, texts, max_length: int = 128, batch_size: int = 64) -> list[dict]:
    """For each text: ``{"text", "label", "score", "probs": {label: probability}}``."""
    from bert_edu.data.classification import Example
    from bert_edu.train.finetune import encode, predict_proba

    features = [{"input_ids": f["input_ids"]} for f in encode(tokenizer, [Example(t, 0) for t in texts], max_length)]
    probs = predict_proba(model, features, batch_size, pad_token_id=tokenizer.pad_token_id)
    names = [model.config.id2label[i] for i in range(probs.shape[1])]
    out = []
    for text, p in zip(texts, probs.tolist()):
        best = max(range(len(p)), key=p.__getitem__)
        out.append({"text": text, "label": names[best], "score": p[best], "probs": dict(zip(names, p))})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="folder saved by python -m bert_edu.finetune")
    parser.add_argument("texts", nargs="*", help="texts to classify (default: one per line from stdin)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    args = parser.parse_args(argv)

    texts = args.texts or [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        parser.error("no text given: pass texts as arguments or pipe them in, one per line")
    try:
        model, tokenizer = load_classifier(args.model)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for row in classify(model, tokenizer, texts, args.max_length):
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['label']}\t{row['score']:.3f}\t{row['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
