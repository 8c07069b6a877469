"""Checkers for notebook 08 (fine-tuning): the classification head, dynamic padding, and predicting the
loss of a classifier that has not been trained yet."""

from __future__ import annotations

import math

import torch

from bert_edu.exercises._harness import Checker
from bert_edu.train.finetune import collate


def reference_classification_head(last_hidden_state, pooler_dense, dropout, classifier):
    """logits = classifier(dropout(tanh(pooler_dense(h_[CLS])))): BERT's sentence classifier (section 4.1)."""
    pooled = torch.tanh(pooler_dense(last_hidden_state[:, 0]))  # position 0 holds [CLS]
    return classifier(dropout(pooled))


def _head_mistakes(h, dense, dropout, classifier, seed):
    def run(fn):
        torch.manual_seed(seed)
        return fn()

    return {
        "take the vector at position 0 ([CLS]), not the mean over the tokens":
            run(lambda: classifier(dropout(torch.tanh(dense(h.mean(1)))))),
        "take the vector at position 0 ([CLS]), not the last position":
            run(lambda: classifier(dropout(torch.tanh(dense(h[:, -1]))))),
        "the pooler is a linear layer FOLLOWED by tanh":
            run(lambda: classifier(dropout(dense(h[:, 0])))),
        "dropout goes between the pooler and the classifier (was it left out?)":
            run(lambda: classifier(torch.tanh(dense(h[:, 0])))),
        "apply dropout to the pooled vector (after tanh), not to the [CLS] vector before the pooler":
            run(lambda: classifier(torch.tanh(dense(dropout(h[:, 0]))))),
        "the classifier reads the pooled vector; the output should be logits, not probabilities (no softmax)":
            run(lambda: classifier(dropout(torch.tanh(dense(h[:, 0])))).softmax(-1)),
    }


def check_classification_head(fn, quiet: bool = False) -> bool:
    """fn(last_hidden_state, pooler_dense, dropout, classifier) -> logits (batch, num_labels).

    last_hidden_state: (batch, T, hidden); pooler_dense: nn.Linear(hidden, hidden); dropout: nn.Dropout;
    classifier: nn.Linear(hidden, num_labels).
    """
    from bert_edu import BertConfig, BertForSequenceClassification

    ck = Checker("classification_head", fn, quiet=quiet)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=3, hidden_dropout_prob=0.3)
    model = BertForSequenceClassification(config).eval()
    input_ids = torch.randint(5, 60, (4, 7))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 4:] = 0
    with torch.no_grad():
        h = model.bert(input_ids, attention_mask).last_hidden_state
        expected = model(input_ids, attention_mask).logits
    parts = (model.bert.pooler.dense, model.dropout, model.classifier)

    with ck.case("eval mode (dropout off): equals BertForSequenceClassification's logits") as case:
        with torch.no_grad():
            got = fn(h, *parts)
        case.expect_close(got, expected, what="logits", mistakes=_head_mistakes(h, *parts, seed=0))
    with ck.case("training mode: dropout applied once, on the pooled vector") as case:
        model.train()
        try:
            with torch.no_grad():
                torch.manual_seed(1)
                got = fn(h, *parts)
                torch.manual_seed(1)
                reference = reference_classification_head(h, *parts)
                mistakes = _head_mistakes(h, *parts, seed=1)
        finally:
            model.eval()
        case.expect_close(got, reference, what="logits", mistakes=mistakes)
    with ck.case("a batch of one sentence, 2 labels") as case:
        torch.manual_seed(2)
        one = torch.randn(1, 3, 8)
        dense, drop, clf = torch.nn.Linear(8, 8), torch.nn.Dropout(0.1).eval(), torch.nn.Linear(8, 2)
        with torch.no_grad():
            got = fn(one, dense, drop, clf)
            case.expect_close(got, reference_classification_head(one, dense, drop, clf), what="logits",
                              mistakes=_head_mistakes(one, dense, drop, clf, seed=2))
    return ck.verdict()


def reference_dynamic_padding(sequences, pad_token_id=0):
    """(input_ids, attention_mask): LongTensors (batch, longest) padded on the right with pad_token_id."""
    batch = collate([{"input_ids": list(s)} for s in sequences], pad_token_id)
    return batch["input_ids"], batch["attention_mask"]


def _pad_mistakes(sequences, pad_token_id):
    ids, mask = reference_dynamic_padding(sequences, pad_token_id)
    longest = ids.shape[1]
    left = torch.stack([torch.tensor([pad_token_id] * (longest - len(s)) + list(s)) for s in sequences])
    left_mask = torch.stack([torch.tensor([0] * (longest - len(s)) + [1] * len(s)) for s in sequences])
    zero_pad = reference_dynamic_padding(sequences, 0)[0]
    return ids, mask, {
        "input_ids": {"pad on the right (BERT's position 0 must be [CLS])": left,
                      "pad with pad_token_id, not always 0": zero_pad},
        "attention_mask": {"attention_mask is 1 for real tokens and 0 for padding, not the other way round":
                           1 - mask,
                           "pad on the right (BERT's position 0 must be [CLS])": left_mask},
    }


def check_dynamic_padding(fn, quiet: bool = False) -> bool:
    """fn(sequences: list of lists of token ids, pad_token_id) -> (input_ids, attention_mask), both
    torch.long tensors of shape (batch, length of the LONGEST sequence in this batch)."""
    ck = Checker("dynamic_padding", fn, quiet=quiet)
    cases = [
        ("three sentences of different lengths", [[101, 7592, 102], [101, 2307, 3185, 999, 102], [101, 102]], 0),
        ("a padding id that is not 0", [[101, 5, 102], [101, 5, 6, 7, 102]], 3),
        ("one sentence (nothing to pad)", [[101, 2204, 2143, 102]], 0),
        ("all the same length (nothing to pad)", [[101, 1, 102], [101, 2, 102]], 0),
    ]
    for name, sequences, pad in cases:
        with ck.case(name) as case:
            got = fn([list(s) for s in sequences], pad)
            case.expect(isinstance(got, tuple) and len(got) == 2, "return a tuple (input_ids, attention_mask)")
            ids, mask, mistakes = _pad_mistakes(sequences, pad)
            longest = max(map(len, sequences))
            for what, value, reference in (("input_ids", got[0], ids), ("attention_mask", got[1], mask)):
                case.expect(isinstance(value, torch.Tensor), f"{what} should be a torch.Tensor")
                case.expect(value.dim() != 2 or value.shape[1] == longest,
                            f"{what} has {value.shape[-1]} columns; dynamic padding pads to the longest "
                            f"sequence of THIS batch ({longest} tokens), no further")
                case.expect(value.dtype == torch.long,
                            f"{what} should hold integers (torch.long), not {value.dtype}: embedding lookups "
                            "need integer ids")
                case.expect_equal(value, reference, what=what, mistakes=mistakes[what])
    return ck.verdict()


def reference_initial_loss(num_labels):
    """Cross-entropy of a classifier that spreads its bets evenly: -ln(1 / num_labels) = ln(num_labels)."""
    return math.log(num_labels)


def check_initial_loss(fn, quiet: bool = False) -> bool:
    """fn(num_labels) -> your prediction of the average cross-entropy loss of a freshly initialised
    classifier (before any training step), as a float."""
    ck = Checker("initial_loss", fn, quiet=quiet)
    for n in (2, 3, 5, 10):
        with ck.case(f"{n} labels") as case:
            got = fn(n)
            case.expect(isinstance(got, (int, float)) or (isinstance(got, torch.Tensor) and got.numel() == 1),
                        f"return one number (a float), got {type(got).__name__}")
            case.expect_close(float(got), reference_initial_loss(n), atol=1e-3, rtol=0, what="loss", mistakes={
                "cross-entropy uses the natural logarithm (ln), not log2": math.log2(n),
                "that is the probability of each label; the loss is minus its logarithm": 1 / n,
                "that is the error rate of a random guess; the loss is -ln(probability of the true label)":
                    1 - 1 / n,
                "that is the loss of a perfect model; a fresh classifier gives every label about 1/n": 0.0,
            })
    return ck.verdict()
