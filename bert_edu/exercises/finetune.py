"""Checkers for notebook 08 (fine-tuning): the classification head, dynamic padding, predicting the loss of
a classifier that has not been trained yet, AdamW's two parameter groups and the warmup-then-decay schedule."""

from __future__ import annotations

import math

import torch

from bert_edu.exercises._harness import CaseFailed, Checker
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


# ------------------------------------------------------------------------------------- AdamW parameter groups


def _no_decay_name(name: str) -> bool:
    return name.endswith("bias") or "LayerNorm" in name


def reference_parameter_groups(model, weight_decay):
    """Two groups for ``torch.optim.AdamW``: ``weight_decay`` on the weight matrices (embedding tables
    included), 0.0 on biases and LayerNorm weights (BERT's optimiser; transformers' Trainer does the same)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if _no_decay_name(name) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _decay_by_name(groups, model) -> dict:
    """{parameter name: weight decay it gets} from groups as AdamW reads them; raises CaseFailed on bad structure."""
    if groups is None:
        raise CaseFailed("your function returned None: did you forget the `return` statement?")
    if not isinstance(groups, (list, tuple)) or not groups or not all(isinstance(g, dict) for g in groups):
        raise CaseFailed(f"return a list of parameter groups, dicts like {{'params': [...], 'weight_decay': 0.01}} "
                         f"(what torch.optim.AdamW takes), not {type(groups).__name__}")
    name_of = {id(p): n for n, p in model.named_parameters()}
    decay = {}
    for g in groups:
        if "params" not in g:
            raise CaseFailed("every group needs a 'params' entry: the list of parameters it holds")
        if "weight_decay" not in g:
            raise CaseFailed("give every group its 'weight_decay': a group without one silently gets AdamW's "
                             "default (0.01)")
        params = [g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"])
        for p in params:
            name = name_of.get(id(p))
            if name is None:
                raise CaseFailed("a group holds a tensor that is not one of model.parameters()")
            if name in decay:
                raise CaseFailed(f"{name} is in two groups (AdamW refuses that): each parameter goes in exactly one")
            decay[name] = float(g["weight_decay"])
    missing = [n for n in name_of.values() if n not in decay]
    if missing:
        raise CaseFailed(f"{len(missing)} parameters are in no group (for example {missing[0]}): AdamW would "
                         "never update them")
    return decay


def _group_mistakes(model, wd) -> dict:
    names = [n for n, _ in model.named_parameters()]
    rule = lambda no_decay: {n: (0.0 if no_decay(n) else wd) for n in names}  # noqa: E731
    return {
        "biases and LayerNorm weights get NO weight decay: two groups, not one": rule(lambda n: False),
        "LayerNorm weights get no weight decay either (their natural value is 1, decay would pull them to 0)":
            rule(lambda n: n.endswith("bias")),
        "biases get no weight decay either (only the weight matrices are decayed)": rule(lambda n: "LayerNorm" in n),
        "the groups are swapped: weight_decay on the matrices, 0.0 on biases and LayerNorm weights":
            {n: (wd if _no_decay_name(n) else 0.0) for n in names},
        "embedding tables are weight matrices too: they are decayed (only biases and LayerNorm weights are not)":
            rule(lambda n: _no_decay_name(n) or "embeddings" in n),
        "the weight matrices get the weight_decay you were given, not 0": rule(lambda n: True),
    }


def check_parameter_groups(fn, quiet: bool = False) -> bool:
    """fn(model, weight_decay) -> [{"params": [...], "weight_decay": weight_decay},
    {"params": [...], "weight_decay": 0.0}]: every parameter of ``model`` in exactly one group."""
    from bert_edu import BertConfig, BertForPreTraining, BertForSequenceClassification

    ck = Checker("parameter_groups", fn, quiet=quiet)
    config = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=32)
    models = [("a sentence classifier, weight_decay=0.01", BertForSequenceClassification(BertConfig(**config)), 0.01),
              ("BERT with its pretraining heads (tied decoder, its own bias), weight_decay=0.1",
               BertForPreTraining(BertConfig(**config)), 0.1)]
    for name, model, wd in models:
        with ck.case(name) as case:
            got = _decay_by_name(fn(model, wd), model)
            expected = _decay_by_name(reference_parameter_groups(model, wd), model)
            if got != expected:
                for hint, wrong in _group_mistakes(model, wd).items():
                    case.expect(got != wrong, f"Likely mistake: {hint}")
                bad = [n for n in expected if got[n] != expected[n]]
                case.expect(False, f"{len(bad)} parameters get the wrong weight decay, for example {bad[0]}: "
                            f"{got[bad[0]]} instead of {expected[bad[0]]}")
            torch.optim.AdamW(fn(model, wd), lr=1e-3)  # and AdamW accepts the groups
    return ck.verdict()


# ------------------------------------------------------------------------------------- warmup schedule


def reference_lr_factor(step, warmup_steps, total_steps):
    """The learning-rate multiplier at optimiser step ``step`` (0-based): 0 -> 1 linearly over ``warmup_steps``,
    then 1 -> 0 linearly at ``total_steps``, and 0 after (``transformers.get_linear_schedule_with_warmup``)."""
    if step < warmup_steps:
        return step / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def _schedule(fn, warmup, total, steps):
    return torch.tensor([float(fn(s, warmup, total)) for s in steps], dtype=torch.float64)


def _transformers_schedule(warmup, total, steps):
    """The factors transformers' scheduler applies, read from a real optimiser with lr = 1."""
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)
    factors = []
    for _ in steps:
        factors.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(factors, dtype=torch.float64)


def _schedule_mistakes(warmup, total, steps):
    w, t = warmup, total
    return {
        "the learning rate first WARMS UP from 0 over warmup_steps (step / warmup_steps)":
            [max(0.0, (t - s) / t) for s in steps],
        "after warmup the factor DECAYS linearly, reaching 0 at total_steps":
            [min(1.0, s / w) if w else 1.0 for s in steps],
        "the decay runs over the steps AFTER warmup: (total_steps - step) / (total_steps - warmup_steps)":
            [s / w if s < w else max(0.0, (t - s) / t) for s in steps],
        "warmup starts at exactly 0 at step 0 and reaches 1 at step warmup_steps: step / warmup_steps":
            [(s + 1) / (w + 1) if s < w else max(0.0, (t - s) / max(1, t - w)) for s in steps],
        "after total_steps the factor stays at 0, never negative: max(0, ...)":
            [s / w if s < w else (t - s) / max(1, t - w) for s in steps],
        "the factor changes with the step; a constant does not warm up or decay": [1.0 for _ in steps],
    }


def check_lr_factor(fn, quiet: bool = False) -> bool:
    """fn(step, warmup_steps, total_steps) -> the multiplier of the peak learning rate at that step (a float)."""
    ck = Checker("lr_factor", fn, quiet=quiet)
    for warmup, total, last in ((10, 100, 110), (3, 7, 9), (0, 20, 20)):
        steps = list(range(last))
        name = f"warmup_steps={warmup}, total_steps={total}, steps 0..{last - 1}"
        with ck.case(name + (" (equal to transformers.get_linear_schedule_with_warmup)" if warmup == 10 else "")) \
                as case:
            first = fn(0, warmup, total)
            case.expect(first is not None, "your function returned None: did you forget the `return` statement?")
            case.expect(isinstance(first, (int, float)) or (isinstance(first, torch.Tensor) and first.numel() == 1),
                        f"return one number per step (a float), got {type(first).__name__}")
            expected = _transformers_schedule(warmup, total, steps) if warmup == 10 else \
                torch.tensor([reference_lr_factor(s, warmup, total) for s in steps], dtype=torch.float64)
            mistakes = {k: torch.tensor(v, dtype=torch.float64)
                        for k, v in _schedule_mistakes(warmup, total, steps).items()}
            case.expect_close(_schedule(fn, warmup, total, steps), expected, atol=1e-6, rtol=0,
                              what="learning-rate factors", mistakes=mistakes)
    return ck.verdict()
