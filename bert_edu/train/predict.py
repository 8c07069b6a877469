"""Use a fine-tuned model folder (notebooks 08, 10, 11): the head saved in it decides what a prediction is.

    python -m bert_edu.predict --model runs/sentiment "A gorgeous, witty film."          # a label per text
    python -m bert_edu.predict --model runs/ner "Peter Blackburn spoke in Brussels."     # the entities in a text
    python -m bert_edu.predict --model runs/qa --question "Who wrote Emma?" --context "Emma is a novel by Jane Austen."
    cat reviews.txt | python -m bert_edu.predict --model runs/sentiment                  # one text per line

* text classification (``python -m bert_edu.finetune``): one line per text, the label, its probability and
  the text, tab-separated;
* token classification (``python -m bert_edu.ner``): for each text, one line per entity: its type, mean
  probability, character span and words, tab-separated (nothing for a text without entities);
* question answering (``python -m bert_edu.qa``): the answer, its probability and its character span in the
  context, tab-separated;
* ``--json``: one JSON object per text instead (every label's probability, or the list of entities).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def head_type(folder) -> str:
    """The model class saved in ``folder`` (config.json's ``architectures``), e.g. 'BertForTokenClassification'."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{folder} holds no model (no config.json); pass the --out folder of "
                                "python -m bert_edu.finetune or python -m bert_edu.ner")
    architectures = json.loads(config.read_text()).get("architectures") or ["BertForSequenceClassification"]
    return architectures[0]


def load_classifier(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder``."""
    from bert_edu import BertForSequenceClassification
    from bert_edu.train.finetune import load_tokenizer

    head_type(folder)  # a clear error for a folder without a model
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


def read_texts(args, parser) -> list[str]:
    texts = args.texts or [line.strip() for line in sys.stdin if line.strip()]
    if not texts:
        parser.error("no text given: pass texts as arguments or pipe them in, one per line")
    return texts


def _print_classification(args, parser) -> None:
    texts = read_texts(args, parser)
    model, tokenizer = load_classifier(args.model)
    for row in classify(model, tokenizer, texts, args.max_length):
        print(json.dumps(row) if args.json else f"{row['label']}\t{row['score']:.3f}\t{row['text']}")


def _print_entities(args, parser) -> None:
    texts = read_texts(args, parser)
    from bert_edu.train.ner import load_tagger, predict_entities

    model, tokenizer = load_tagger(args.model)
    for text, entities in zip(texts, predict_entities(model, tokenizer, texts, max_length=args.max_length)):
        if args.json:
            print(json.dumps({"text": text, "entities": entities}))
        for e in entities if not args.json else []:
            print(f"{e['entity_group']}\t{e['score']:.3f}\t{e['start']}-{e['end']}\t{e['word']}")


def _print_answer(args, parser) -> None:
    if not args.question or not args.context or args.texts:
        parser.error("a question-answering model needs --question Q and --context C (and no other text)")
    from bert_edu.train.qa import DEFAULTS, load_qa_model, predict_answer

    model, tokenizer = load_qa_model(args.model)
    # --max-length left at its default (128, for texts): a question + context window takes the QA default
    max_length = DEFAULTS["max_length"] if args.max_length == parser.get_default("max_length") else args.max_length
    try:
        row = predict_answer(model, tokenizer, args.question, args.context, max_length=max_length,
                             stride=min(DEFAULTS["stride"], max_length // 4))
    except ValueError as err:  # an empty question or context, a question too long for --max-length
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(row) if args.json else f"{row['answer']}\t{row['score']:.3f}\t{row['start']}-{row['end']}")


# head type -> printer(args, parser)
PRINTERS = {
    "BertForSequenceClassification": _print_classification,
    "BertForTokenClassification": _print_entities,
    "BertForQuestionAnswering": _print_answer,
}


def build_parser() -> argparse.ArgumentParser:
    from bert_edu.train.common import HelpFormatter

    parser = argparse.ArgumentParser(prog="python -m bert_edu.predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--model", required=True, help="folder saved by python -m bert_edu.finetune / ner")
    parser.add_argument("texts", nargs="*", help="texts (default: one per line from stdin)")
    parser.add_argument("--max-length", type=int, default=128, help="longer texts are truncated")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--question", help="question answering (python -m bert_edu.qa): the question")
    parser.add_argument("--context", help="question answering: the text that holds the answer")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        head = head_type(args.model)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if head not in PRINTERS:
        print(f"error: {args.model} holds a {head}; predict knows {', '.join(PRINTERS)}", file=sys.stderr)
        return 2
    try:
        PRINTERS[head](args, parser)
    except UnicodeDecodeError as err:
        print(f"error: the texts on stdin are not UTF-8 ({err.reason} at byte {err.start}); convert them first, "
              "e.g. with iconv -t UTF-8", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:  # e.g. a model folder with missing or broken files
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
