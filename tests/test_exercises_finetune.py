"""The notebook-08 checkers accept correct versions and name the mistake in typical wrong ones."""

import math

import torch

from bert_edu.exercises.finetune import (check_classification_head, check_dynamic_padding, check_initial_loss,
                                         check_lr_factor, check_parameter_groups, reference_classification_head,
                                         reference_dynamic_padding, reference_initial_loss, reference_lr_factor,
                                         reference_parameter_groups)
from bert_edu.train import common
from exercise_helpers import assert_checker_fails, assert_checker_passes

# ------------------------------------------------------------------------------------- classification head


def my_head(last_hidden_state, pooler_dense, dropout, classifier):
    cls = last_hidden_state[:, 0, :]
    return classifier(dropout(pooler_dense(cls).tanh()))


def test_classification_head_accepts_correct_versions(capsys):
    assert_checker_passes(check_classification_head, reference_classification_head, capsys)
    assert_checker_passes(check_classification_head, my_head, capsys)


def test_classification_head_names_typical_mistakes(capsys):
    def mean_pooling(h, dense, dropout, classifier):
        return classifier(dropout(torch.tanh(dense(h.mean(dim=1)))))

    def no_tanh(h, dense, dropout, classifier):
        return classifier(dropout(dense(h[:, 0])))

    def no_dropout(h, dense, dropout, classifier):
        return classifier(torch.tanh(dense(h[:, 0])))

    def dropout_too_early(h, dense, dropout, classifier):
        return classifier(torch.tanh(dense(dropout(h[:, 0]))))

    def softmaxed(h, dense, dropout, classifier):
        return torch.softmax(classifier(dropout(torch.tanh(dense(h[:, 0])))), dim=-1)

    assert_checker_fails(check_classification_head, mean_pooling, capsys, hint="not the mean over the tokens")
    assert_checker_fails(check_classification_head, no_tanh, capsys, hint="FOLLOWED by tanh")
    assert_checker_fails(check_classification_head, no_dropout, capsys, hint="was it left out?")
    assert_checker_fails(check_classification_head, dropout_too_early, capsys, hint="not to the [CLS] vector")
    assert_checker_fails(check_classification_head, softmaxed, capsys, hint="not probabilities")


# ------------------------------------------------------------------------------------- dynamic padding


def my_padding(sequences, pad_token_id=0):
    longest = max(len(s) for s in sequences)
    ids = [list(s) + [pad_token_id] * (longest - len(s)) for s in sequences]
    mask = [[1] * len(s) + [0] * (longest - len(s)) for s in sequences]
    return torch.tensor(ids), torch.tensor(mask)


def test_dynamic_padding_accepts_correct_versions(capsys):
    assert_checker_passes(check_dynamic_padding, reference_dynamic_padding, capsys)
    assert_checker_passes(check_dynamic_padding, my_padding, capsys)


def test_dynamic_padding_names_typical_mistakes(capsys):
    def left_padding(sequences, pad_token_id=0):
        longest = max(len(s) for s in sequences)
        ids = [[pad_token_id] * (longest - len(s)) + list(s) for s in sequences]
        mask = [[0] * (longest - len(s)) + [1] * len(s) for s in sequences]
        return torch.tensor(ids), torch.tensor(mask)

    def inverted_mask(sequences, pad_token_id=0):
        ids, mask = my_padding(sequences, pad_token_id)
        return ids, 1 - mask

    def always_zero(sequences, pad_token_id=0):
        return my_padding(sequences, 0)

    def fixed_length(sequences, pad_token_id=0):
        ids = [list(s) + [pad_token_id] * (16 - len(s)) for s in sequences]
        mask = [[1] * len(s) + [0] * (16 - len(s)) for s in sequences]
        return torch.tensor(ids), torch.tensor(mask)

    def float_mask(sequences, pad_token_id=0):
        ids, mask = my_padding(sequences, pad_token_id)
        return ids, mask.float()

    assert_checker_fails(check_dynamic_padding, left_padding, capsys, hint="pad on the right")
    assert_checker_fails(check_dynamic_padding, inverted_mask, capsys, hint="not the other way round")
    assert_checker_fails(check_dynamic_padding, always_zero, capsys, hint="not always 0")
    assert_checker_fails(check_dynamic_padding, fixed_length, capsys, hint="longest sequence of THIS batch")
    assert_checker_fails(check_dynamic_padding, float_mask, capsys, hint="torch.long")


# ------------------------------------------------------------------------------------- initial loss


def test_initial_loss_accepts_correct_versions(capsys):
    assert_checker_passes(check_initial_loss, reference_initial_loss, capsys)
    assert_checker_passes(check_initial_loss, lambda n: -math.log(1 / n), capsys)
    assert_checker_passes(check_initial_loss, lambda n: torch.tensor(float(n)).log(), capsys)


def test_initial_loss_names_typical_mistakes(capsys):
    def log2(num_labels):
        return math.log2(num_labels)

    def probability(num_labels):
        return 1 / num_labels

    def constant(num_labels):
        return 0.69

    assert_checker_fails(check_initial_loss, log2, capsys, hint="natural logarithm")
    assert_checker_fails(check_initial_loss, probability, capsys, hint="minus its logarithm")
    assert_checker_fails(check_initial_loss, constant, capsys)


# ------------------------------------------------------------------------------------- AdamW parameter groups


def _split(model, weight_decay, no_decay):
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if not no_decay(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if no_decay(n, p)], "weight_decay": 0.0}]


def test_parameter_groups_accepts_correct_versions(capsys):
    assert_checker_passes(check_parameter_groups, reference_parameter_groups, capsys)
    # the package's optimiser (1-d parameters are exactly the biases and LayerNorm weights), groups in any order
    assert_checker_passes(check_parameter_groups,
                          lambda m, wd: common.make_optimizer(m, 1e-3, wd).param_groups[::-1], capsys)
    assert_checker_passes(check_parameter_groups, lambda m, wd: _split(m, wd, lambda n, p: p.ndim == 1), capsys)


def test_parameter_groups_names_typical_mistakes(capsys):
    def one_group(model, weight_decay):
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]

    def only_biases(model, weight_decay):
        return _split(model, weight_decay, lambda n, p: n.endswith("bias"))

    def embeddings_too(model, weight_decay):
        return _split(model, weight_decay, lambda n, p: p.ndim == 1 or "embeddings" in n)

    def swapped(model, weight_decay):
        groups = _split(model, weight_decay, lambda n, p: p.ndim == 1)
        return [{"params": groups[0]["params"], "weight_decay": 0.0},
                {"params": groups[1]["params"], "weight_decay": weight_decay}]

    def no_weight_decay_key(model, weight_decay):
        groups = _split(model, weight_decay, lambda n, p: p.ndim == 1)
        return [groups[0], {"params": groups[1]["params"]}]

    def forgets_the_classifier(model, weight_decay):
        groups = _split(model, weight_decay, lambda n, p: p.ndim == 1)
        groups[0]["params"] = [p for p in groups[0]["params"] if p is not model.classifier.weight] \
            if hasattr(model, "classifier") else groups[0]["params"][1:]
        return groups

    assert_checker_fails(check_parameter_groups, one_group, capsys, hint="two groups, not one")
    assert_checker_fails(check_parameter_groups, only_biases, capsys, hint="LayerNorm weights get no weight decay")
    assert_checker_fails(check_parameter_groups, embeddings_too, capsys, hint="embedding tables are weight matrices")
    assert_checker_fails(check_parameter_groups, swapped, capsys, hint="the groups are swapped")
    assert_checker_fails(check_parameter_groups, no_weight_decay_key, capsys, hint="AdamW's default")
    assert_checker_fails(check_parameter_groups, forgets_the_classifier, capsys, hint="in no group")


def test_parameter_groups_rejects_a_do_nothing_answer(capsys):
    assert_checker_fails(check_parameter_groups, lambda model, weight_decay: None, capsys, hint="forget the `return`")
    assert_checker_fails(check_parameter_groups, lambda model, weight_decay: model.parameters(), capsys,
                         hint="return a list of parameter groups")


# ------------------------------------------------------------------------------------- warmup schedule


def test_lr_factor_reference_is_transformers_schedule():
    from transformers import get_linear_schedule_with_warmup

    for warmup, total in ((10, 100), (0, 5), (7, 7), (1, 3)):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
        ours = common.linear_warmup_decay(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), warmup,
                                          total)
        for step in range(total + 3):
            assert reference_lr_factor(step, warmup, total) == opt.param_groups[0]["lr"] \
                == ours.optimizer.param_groups[0]["lr"], (warmup, total, step)
            opt.step(), sched.step(), ours.optimizer.step(), ours.step()


def test_lr_factor_accepts_correct_versions(capsys):
    assert_checker_passes(check_lr_factor, reference_lr_factor, capsys)

    def piecewise(step, warmup_steps, total_steps):
        warm = step / warmup_steps if warmup_steps else 1.0
        decay = (total_steps - step) / (total_steps - warmup_steps)
        return torch.tensor(min(warm, max(decay, 0.0)))

    assert_checker_passes(check_lr_factor, piecewise, capsys)


def test_lr_factor_names_typical_mistakes(capsys):
    def no_warmup(step, warmup_steps, total_steps):
        return max(0.0, (total_steps - step) / total_steps)

    def no_decay(step, warmup_steps, total_steps):
        return min(1.0, step / warmup_steps) if warmup_steps else 1.0

    def decays_over_all_steps(step, warmup_steps, total_steps):
        return step / warmup_steps if step < warmup_steps else max(0.0, (total_steps - step) / total_steps)

    def one_step_ahead(step, warmup_steps, total_steps):
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / (total_steps - warmup_steps))

    def goes_negative(step, warmup_steps, total_steps):
        return step / warmup_steps if step < warmup_steps else (total_steps - step) / (total_steps - warmup_steps)

    assert_checker_fails(check_lr_factor, no_warmup, capsys, hint="first WARMS UP")
    assert_checker_fails(check_lr_factor, no_decay, capsys, hint="DECAYS linearly")
    assert_checker_fails(check_lr_factor, decays_over_all_steps, capsys, hint="steps AFTER warmup")
    assert_checker_fails(check_lr_factor, one_step_ahead, capsys, hint="starts at exactly 0")
    assert_checker_fails(check_lr_factor, goes_negative, capsys, hint="never negative")


def test_lr_factor_rejects_a_do_nothing_answer(capsys):
    assert_checker_fails(check_lr_factor, lambda step, warmup_steps, total_steps: None, capsys,
                         hint="forget the `return`")
    assert_checker_fails(check_lr_factor, lambda step, warmup_steps, total_steps: 1.0, capsys,
                         hint="a constant does not warm up")


# ------------------------------------------------------------------------------------- the fine-tuning loop
# Written as a learner would in notebook 08; each wrong version has one classic bug, and the checker must name it.

import random  # noqa: E402

from bert_edu.exercises.finetune import check_fine_tune, reference_fine_tune  # noqa: E402
from bert_edu.exercises.finetune import _classifier_module, bucketed_batches, collate  # noqa: E402

finetune = _classifier_module()


def make_loop(*, zero_grad=True, clip_first=True, scheduler_last=True, train_each_epoch=True, eval_before=False,
              restore_best=True):
    """A learner's fine_tune with the given habits (all defaults: a correct loop)."""

    def fine_tune(model, train_f, val_f, *, epochs, lr, batch_size, warmup_ratio=0.1, weight_decay=0.01,
                  max_grad_norm=1.0, seed=0, pad_token_id=0, device="cpu", log=print):
        rng = random.Random(seed)
        lengths = [len(f["input_ids"]) for f in train_f]
        total = math.ceil(len(train_f) / batch_size) * epochs
        optimizer = torch.optim.AdamW(reference_parameter_groups(model, weight_decay), lr=lr, eps=1e-6)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: reference_lr_factor(s, int(warmup_ratio * total), total))
        losses, best_acc, best_epoch, best_state = [], -1.0, 0, None
        if not train_each_epoch:
            model.train()
        for epoch in range(1, epochs + 1):
            if train_each_epoch:
                model.train()
            for idx in bucketed_batches(lengths, batch_size, rng):
                batch = collate([train_f[i] for i in idx], pad_token_id)
                loss = model(**batch).loss
                loss.backward()
                if not scheduler_last:
                    scheduler.step()
                if clip_first:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                if not clip_first:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                if scheduler_last:
                    scheduler.step()
                if zero_grad:
                    optimizer.zero_grad()
                losses.append(loss.item())
            if eval_before:
                model.eval()
            acc = finetune.evaluate(model, val_f, pad_token_id=pad_token_id)["accuracy"]
            if acc > best_acc:
                best_acc, best_epoch = acc, epoch
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if restore_best:
            model.load_state_dict(best_state)
        return {"losses": losses, "history": [], "best_epoch": best_epoch, "best_accuracy": best_acc}

    return fine_tune


def test_fine_tune_accepts_the_reference(capsys):
    assert_checker_passes(check_fine_tune, reference_fine_tune, capsys)
    assert_checker_passes(check_fine_tune, make_loop(), capsys)


def test_fine_tune_names_each_classic_bug(capsys):
    assert_checker_fails(check_fine_tune, make_loop(zero_grad=False), capsys, hint="optimizer.zero_grad()` is missing")
    assert_checker_fails(check_fine_tune, make_loop(clip_first=False), capsys, hint="clipping after the optimiser step")
    assert_checker_fails(check_fine_tune, make_loop(scheduler_last=False), capsys,
                         hint="scheduler stepped before the optimiser")
    assert_checker_fails(check_fine_tune, make_loop(train_each_epoch=False, eval_before=True), capsys,
                         hint="model.eval() left on during training")
    assert_checker_fails(check_fine_tune, make_loop(restore_best=False), capsys,
                         hint="last epoch kept instead of the best")


def test_fine_tune_diagnoses_a_loop_that_never_trains_mode(capsys):
    def never_train(model, *args, **kwargs):
        model.train = lambda mode=True: model  # the loop's model.train() calls do nothing
        return make_loop()(model, *args, **kwargs)

    assert_checker_fails(check_fine_tune, never_train, capsys, hint="model.eval() left on during training")


def test_notebook_08_solution_passes_check_fine_tune(capsys):
    """The solution region of notebook 08's fine_tune, run in the notebook's namespace, passes the checker."""
    from pathlib import Path

    import nbformat

    from bert_edu.train import common

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "08_finetune_sentiment.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "def fine_tune(" in c.source]
    assert len(cells) == 1 and "### BEGIN SOLUTION" in cells[0], "notebook 08's fine_tune is not an exercise region"
    namespace = {"math": math, "random": random, "torch": torch, "finetune": finetune, "training": common,
                 "make_groups": reference_parameter_groups, "schedule": reference_lr_factor}
    exec(compile(cells[0], "<08 fine_tune>", "exec"), namespace)
    assert_checker_passes(check_fine_tune, namespace["fine_tune"], capsys)
