"""Checkers for notebook 08 (fine-tuning): the classification head, dynamic padding, predicting the loss of
a classifier that has not been trained yet, AdamW's two parameter groups and the warmup-then-decay schedule."""

from __future__ import annotations

import math

import torch

from bert_edu.exercises._harness import CaseFailed, Checker

from bert_edu.data.batching import bucketed_batches, collate  # their home since the loops became one (train/loop.py)


def _classifier_module():
    """The package's classifier training (``train_classifier``, ``evaluate``): bert_edu.train.classify, or
    bert_edu.train.finetune, its older name."""
    import importlib

    for name in ("bert_edu.train.classify", "bert_edu.train.finetune"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("neither bert_edu.train.classify nor bert_edu.train.finetune can be imported")


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


# ------------------------------------------------------------------------------------- the fine-tuning loop
#
# check_fine_tune runs the learner's loop on a tiny classifier of its own and compares it with the package's loop,
# ``bert_edu.train.finetune.train_classifier``: the loss of every step, the best epoch and every weight at the end.
# Its configuration makes each classic bug visible: dropout above 0 and a model handed over in eval mode (as
# ``from_pretrained`` returns it), so a loop that does not put it in training mode every epoch shows; a clipping
# threshold below the gradient norm, so the order of clipping and the optimiser step shows; warmup, so a scheduler
# stepped first shows; a validation set whose labels follow the opposite rule of the training set's, so validation
# accuracy falls as the model learns and the best epoch is not the last one. The classic bugs are simulated with the
# same loop (``_fine_tune(..., bug=...)``) and named when the learner's result matches one.

LOOP_BUGS = {
    "no_zero_grad": "gradients accumulate: `optimizer.zero_grad()` is missing, so each step adds this batch's "
                    "gradient to all the earlier ones",
    "clip_after_step": "clipping after the optimiser step: clip the gradient norm BEFORE `optimizer.step()`, or "
                       "the step uses the unclipped gradients",
    "scheduler_first": "the scheduler stepped before the optimiser: call `scheduler.step()` AFTER "
                       "`optimizer.step()`, or every step uses the next step's learning rate",
    "never_train": "model.eval() left on during training: the loop never calls `model.train()`, so dropout is off "
                   "(the model arrives in eval mode, as `from_pretrained` returns it)",
    "eval_after_first_epoch": "model.eval() left on during training: after the first evaluation the model stays in "
                              "eval mode; call `model.train()` at the start of every epoch",
    "last_epoch": "last epoch kept instead of the best: after the loop, load the weights saved at the best "
                  "validation accuracy (`model.load_state_dict(best_state)`)",
}


def reference_fine_tune(model, train_f, val_f, *, epochs, lr, batch_size, warmup_ratio=0.1, weight_decay=0.01,
                        max_grad_norm=1.0, seed=0, pad_token_id=0, device="cpu", log=print):
    """Notebook 08's loop (the package's ``train_classifier`` without its progress bars and fp16 scaling):
    each epoch in training mode, bucketed batches in a new order, forward, backward, clip, AdamW step, schedule
    step, zero_grad; after each epoch the validation accuracy, a copy of the weights when it is the best so far
    (ties: the earlier epoch); at the end the best epoch's weights back in the model."""
    return _fine_tune(model, train_f, val_f, epochs=epochs, lr=lr, batch_size=batch_size, warmup_ratio=warmup_ratio,
                      weight_decay=weight_decay, max_grad_norm=max_grad_norm, seed=seed, pad_token_id=pad_token_id,
                      device=device, log=log)


def _fine_tune(model, train_f, val_f, *, epochs, lr, batch_size, warmup_ratio=0.1, weight_decay=0.01,
               max_grad_norm=1.0, seed=0, pad_token_id=0, device="cpu", log=print, bug=None):
    import random

    from bert_edu.exercises._loops import update
    from bert_edu.train import common

    finetune = _classifier_module()
    rng = random.Random(seed)
    lengths = [len(f["input_ids"]) for f in train_f]
    total_steps = math.ceil(len(train_f) / batch_size) * epochs
    optimizer = common.make_optimizer(model, lr, weight_decay)
    scheduler = common.linear_warmup_decay(optimizer, int(warmup_ratio * total_steps), total_steps)
    model.to(device)
    losses, history, best = [], [], None
    if bug == "eval_after_first_epoch":
        model.train()
    for epoch in range(1, epochs + 1):
        if bug not in ("never_train", "eval_after_first_epoch"):
            model.train()
        for idx in bucketed_batches(lengths, batch_size, rng):
            batch = common.move_to(collate([train_f[i] for i in idx], pad_token_id), device)
            with common.autocast(device):
                loss = model(**batch).loss
            loss.backward()
            update(model, optimizer, scheduler, max_grad_norm, bug)
            losses.append(loss.item())
        if bug == "eval_after_first_epoch":
            model.eval()
        val = finetune.evaluate(model, val_f, device=device, pad_token_id=pad_token_id)
        history.append({"epoch": epoch, "eval_accuracy": val["accuracy"], "eval_loss": val["loss"]})
        if best is None or val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch, "accuracy": val["accuracy"],
                    "state": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
        if log:
            first = len(losses) - math.ceil(len(train_f) / batch_size)
            log(f"epoch {epoch}/{epochs}: train loss {sum(losses[first:]) / (len(losses) - first):.3f}, "
                f"validation loss {val['loss']:.3f}, accuracy {val['accuracy']:.1%}")
    if bug != "last_epoch":
        model.load_state_dict(best["state"])
    return {"losses": losses, "history": history, "best_epoch": best["epoch"], "best_accuracy": best["accuracy"]}


def _loop_features(n: int, flip: bool, seed: int) -> list[dict]:
    """Sentences of 4-9 random token ids; label 1 when token 7 occurs in the first half (the opposite when flip)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = int(torch.randint(4, 10, (1,), generator=g))
        ids = torch.randint(8, 40, (length,), generator=g)
        if i % 2:
            ids[int(torch.randint(1, length, (1,), generator=g))] = 7
        label = int(bool((ids == 7).any())) ^ int(flip)
        out.append({"input_ids": [2, *ids.tolist(), 3], "label": label})
    return out


LOOP_SETTINGS = dict(epochs=4, lr=3e-3, batch_size=8, warmup_ratio=0.25, weight_decay=0.01, max_grad_norm=0.1,
                     seed=0, pad_token_id=0)


def _loop_model(seed: int):
    from bert_edu import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2, hidden_dropout_prob=0.2,
                        attention_probs_dropout_prob=0.1)
    return BertForSequenceClassification(config).eval()  # eval mode, as from_pretrained returns it


def _run_loop(fn, seed: int = 0):
    """(losses, best epoch, final weights) of ``fn`` on the checker's tiny task; fn=None runs the package's loop."""
    import warnings

    from bert_edu.train import common

    finetune = _classifier_module()
    train_f, val_f = _loop_features(48, False, seed), _loop_features(24, True, seed + 1)
    model = _loop_model(seed)
    common.set_seed(seed + 2)  # the dropout masks: the same for every run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when the scheduler is stepped first: the checker says so
        if fn is None:
            out = finetune.train_classifier(model, train_f, val_f, device="cpu", progress=False, log=None,
                                            **LOOP_SETTINGS)
            result = {"losses": out.losses, "best_epoch": out.best_epoch}
        else:
            result = fn(model, train_f, val_f, device="cpu", log=None, **LOOP_SETTINGS)
    weights = torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])
    return result, weights


def check_fine_tune(fn, quiet: bool = False) -> bool:
    """fn(model, train_f, val_f, *, epochs, lr, batch_size, warmup_ratio, weight_decay, max_grad_norm, seed,
    pad_token_id, device, log) -> {"losses", "history", "best_epoch", "best_accuracy"}: notebook 08's loop,
    compared with the package's ``train_classifier`` on a tiny task of the checker's own."""
    ck = Checker("fine_tune", fn, quiet=quiet)
    with ck.case("4 epochs on a tiny classifier with dropout, handed over in eval mode; clip threshold below the "
                 "gradient norm; the best validation epoch is not the last") as case:
        result, weights = _run_loop(fn)
        expected, exp_weights = _run_loop(None)
        case.expect(isinstance(result, dict) and "losses" in result and "best_epoch" in result,
                    f"return a dict with 'losses' (one per step) and 'best_epoch', got {type(result).__name__}")
        try:
            got_losses = torch.tensor([float(x) for x in result["losses"]])
        except (TypeError, ValueError, RuntimeError):
            raise CaseFailed("result['losses'] must hold the training loss of every step, as numbers (.item())")
        exp_losses = torch.tensor(expected["losses"])
        wrong = {}
        for bug, hint in LOOP_BUGS.items():
            r, w = _run_loop(lambda *a, bug=bug, **k: _fine_tune(*a, **k, bug=bug))
            wrong[hint] = (torch.tensor(r["losses"]), r["best_epoch"], w)
        for hint, (l, e, w) in wrong.items():
            if (got_losses.shape == l.shape and torch.allclose(got_losses, l, atol=1e-6, rtol=1e-5)
                    and weights.shape == w.shape and torch.allclose(weights, w, atol=1e-6, rtol=1e-5)
                    and not (torch.allclose(w, exp_weights, atol=1e-6, rtol=1e-5) and
                             got_losses.shape == exp_losses.shape and torch.allclose(l, exp_losses))):
                raise CaseFailed(f"the losses and weights do not match the package's loop. Likely mistake: {hint}")
        case.expect(got_losses.shape == exp_losses.shape,
                    f"{len(got_losses)} training losses, the package's loop takes {len(exp_losses)} steps "
                    f"({LOOP_SETTINGS['epochs']} epochs of ceil(48 / {LOOP_SETTINGS['batch_size']}) batches)")
        bad = (~torch.isclose(got_losses, exp_losses, atol=1e-6, rtol=1e-5)).nonzero()
        case.expect(len(bad) == 0, f"the training loss differs from the package's loop from step "
                    f"{int(bad[0]) + 1 if len(bad) else 0} on: {got_losses[int(bad[0])] if len(bad) else 0:.5f} vs "
                    f"{exp_losses[int(bad[0])] if len(bad) else 0:.5f}. Each step: forward in training mode, "
                    "backward, clip, optimizer.step(), scheduler.step(), optimizer.zero_grad().")
        case.expect(result["best_epoch"] == expected["best_epoch"],
                    f"best_epoch = {result['best_epoch']}, the package's loop finds epoch {expected['best_epoch']} "
                    "(the highest validation accuracy; ties: the earlier epoch)")
        case.expect(torch.allclose(weights, exp_weights, atol=1e-6, rtol=1e-5),
                    "the losses match but the weights at the end do not: the model must end with the weights of the "
                    f"best epoch ({expected['best_epoch']}), restored with model.load_state_dict")
    return ck.verdict()
