"""Use a fine-tuned model folder (notebooks 08, 10, 11): the head saved in it decides what a prediction is.

    bert-edu predict --model runs/sentiment "A gorgeous, witty film."          # a label per text
    bert-edu predict --model runs/ner "Peter Blackburn spoke in Brussels."     # the entities in a text
    bert-edu predict --model runs/qa --question "Who wrote Emma?" --context "Emma is a novel by Jane Austen."
    cat reviews.txt | bert-edu predict --model runs/sentiment                  # one text per line

* text classification (``bert-edu finetune``): one line per text, the label, its probability and
  the text, tab-separated;
* token classification (``bert-edu ner``): for each text, one line per entity: its type, mean
  probability, character span and words, tab-separated (nothing for a text without entities);
* question answering (``bert-edu qa``): the answer, its probability and its character span in the
  context, tab-separated;
* ``--json``: one JSON object per text instead (every label's probability, or the list of entities).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

from bert_edu.train import cli
from bert_edu.train.common import load_tokenizer

TEXT_MAX_LENGTH = 128  # the default of bert-edu finetune and ner


def head_type(folder) -> str:
    """The model class saved in ``folder`` (config.json's ``architectures``), e.g. 'BertForTokenClassification'."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{folder} holds no model (no config.json); pass the --out folder of "
                                "bert-edu finetune, ner or qa")
    architectures = json.loads(config.read_text()).get("architectures") or ["BertForSequenceClassification"]
    return architectures[0]


def load_classifier(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder``."""
    from bert_edu import BertForSequenceClassification

    head_type(folder)  # a clear error for a folder without a model
    model = BertForSequenceClassification.from_pretrained(folder, verbose=False)
    if device is not None:
        model.to(device)
    return model.eval(), load_tokenizer(folder)


@torch.no_grad()
def classify(model, tokenizer, texts, max_length: int = TEXT_MAX_LENGTH, batch_size: int = 64) -> list[dict]:
    """For each text: ``{"text", "label", "score", "probs": {label: probability}}``."""
    from bert_edu.data.classification import Example
    from bert_edu.train.classify import encode, predict_proba

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
    model, tokenizer = load_classifier(args.model, _device(args))
    for row in classify(model, tokenizer, texts, args.max_length or TEXT_MAX_LENGTH):
        print(json.dumps(row) if args.json else f"{row['label']}\t{row['score']:.3f}\t{row['text']}")


def _print_entities(args, parser) -> None:
    texts = read_texts(args, parser)
    from bert_edu.train.ner import load_tagger, predict_entities

    model, tokenizer = load_tagger(args.model, _device(args))
    max_length = args.max_length or TEXT_MAX_LENGTH
    for text, entities in zip(texts, predict_entities(model, tokenizer, texts, max_length=max_length)):
        if args.json:
            print(json.dumps({"text": text, "entities": entities}))
        for e in entities if not args.json else []:
            print(f"{e['entity_group']}\t{e['score']:.3f}\t{e['start']}-{e['end']}\t{e['word']}")


def _print_answer(args, parser) -> None:
    if not args.question or not args.context or args.texts:
        parser.error("a question-answering model needs --question Q and --context C (and no other text)")
    from bert_edu.train.qa import DEFAULTS, load_qa_model, predict_answer

    model, tokenizer = load_qa_model(args.model, _device(args))
    max_length = args.max_length or DEFAULTS["max_length"]  # a question + context window: bert-edu qa's default
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


def _device(args):
    from bert_edu.train.device import get_device

    return get_device(args.device)


@dataclasses.dataclass
class PredictConfig:
    """``bert-edu predict``'s options (the texts are positional)."""

    model: str | None = cli.option(None, "folder saved by bert-edu finetune, ner or qa", required=True)
    max_length: int | None = cli.option(None, "tokens per input, longer ones are truncated (default: 128) for "
                                        "texts, as bert-edu finetune and ner; a question-answering model's "
                                        "windows take 384, as bert-edu qa")
    json: bool = cli.option(False, "one JSON object per text")
    question: str | None = cli.option(None, "question answering (bert-edu qa): the question")
    context: str | None = cli.option(None, "question answering: the text that holds the answer")
    device: str | None = cli.option(cli.SHARED_DEFAULTS["device"], "cpu, cuda, cuda:1, mps (default: the best "
                                    "available)")


def build_parser():
    parser = cli.make_parser("predict", __doc__.split("\n\n")[0], PredictConfig)
    parser.add_argument("texts", nargs="*", help="texts (default: one per line from stdin)")
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
