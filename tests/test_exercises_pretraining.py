"""The notebook-07 checkers accept correct solutions and name the mistake in typical wrong versions."""

import math

import torch

from bert_edu.exercises.pretraining import (check_initial_losses, check_mask_rule, check_nsp_pair,
                                            reference_initial_losses, reference_mask_rule, reference_nsp_pair)
from exercise_helpers import assert_checker_fails, assert_checker_passes


def my_mask_rule(input_ids, selected, u, random_tokens, mask_id):
    masked = input_ids.clone()
    labels = torch.full_like(input_ids, -100)
    labels[selected] = input_ids[selected]
    masked[selected & (u < 0.8)] = mask_id
    swap = selected & (u >= 0.8) & (u < 0.9)
    masked[swap] = random_tokens[swap]
    return masked, labels


def test_mask_rule(capsys):
    assert_checker_passes(check_mask_rule, my_mask_rule, capsys)
    assert_checker_passes(check_mask_rule, reference_mask_rule, capsys)

    def all_mask(input_ids, selected, u, random_tokens, mask_id):
        masked, labels = my_mask_rule(input_ids, selected, torch.zeros_like(u), random_tokens, mask_id)
        return masked, labels

    def labels_only_where_masked(input_ids, selected, u, random_tokens, mask_id):
        masked, _ = my_mask_rule(input_ids, selected, u, random_tokens, mask_id)
        return masked, torch.where(masked == mask_id, input_ids, torch.full_like(input_ids, -100))

    def in_place(input_ids, selected, u, random_tokens, mask_id):
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
        input_ids[selected & (u < 0.8)] = mask_id
        swap = selected & (u >= 0.8) & (u < 0.9)
        input_ids[swap] = random_tokens[swap]
        return input_ids, labels

    assert_checker_fails(check_mask_rule, all_mask, capsys, hint="only 80%")
    assert_checker_fails(check_mask_rule, labels_only_where_masked, capsys, hint="every selected position")
    assert_checker_fails(check_mask_rule, in_place, capsys, hint="in place")


def my_nsp_pair(documents, doc_index, rng):
    doc = documents[doc_index]
    k = rng.randint(0, len(doc) - 2)
    if rng.random() < 0.5:
        return doc[k], doc[k + 1], 0
    others = [i for i in range(len(documents)) if i != doc_index]
    return doc[k], rng.choice(documents[rng.choice(others)]), 1


def test_nsp_pair(capsys):
    assert_checker_passes(check_nsp_pair, my_nsp_pair, capsys)
    assert_checker_passes(check_nsp_pair, reference_nsp_pair, capsys)

    def same_document(documents, doc_index, rng):
        a, b, label = my_nsp_pair(documents, doc_index, rng)
        return (a, rng.choice(documents[doc_index]), 1) if label == 1 else (a, b, 0)

    def swapped_labels(documents, doc_index, rng):
        a, b, label = my_nsp_pair(documents, doc_index, rng)
        return a, b, 1 - label

    def always_next(documents, doc_index, rng):
        doc = documents[doc_index]
        k = rng.randint(0, len(doc) - 2)
        return doc[k], doc[k + 1], 0

    assert_checker_fails(check_nsp_pair, same_document, capsys, hint="another document")
    assert_checker_fails(check_nsp_pair, swapped_labels, capsys, hint="swapped")
    assert_checker_fails(check_nsp_pair, always_next, capsys, hint="fair coin")


def test_initial_losses(capsys):
    assert_checker_passes(check_initial_losses, reference_initial_losses, capsys)
    assert_checker_passes(check_initial_losses, lambda v: (math.log(v), math.log(2)), capsys)
    assert_checker_fails(check_initial_losses, lambda v: (1 / v, 0.5), capsys, hint="not a probability")
    assert_checker_fails(check_initial_losses, lambda v: (math.log2(v), 1.0), capsys, hint="not log2")
    assert_checker_fails(check_initial_losses, lambda v: (math.log(v), 0.5), capsys)


def test_not_implemented_is_reported(capsys):
    def todo(*args):
        raise NotImplementedError()

    for check in (check_mask_rule, check_nsp_pair, check_initial_losses):
        assert check(todo) is False
        assert "not implemented yet" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ MLM head, loss, WWM

from bert_edu.exercises.pretraining import (ReferenceMLMHead, check_masked_lm_loss, check_mlm_head,  # noqa: E402
                                            check_whole_word_select, reference_masked_lm_loss,
                                            reference_whole_word_select)


class MyMLMHead(torch.nn.Module):
    def __init__(self, config, word_embeddings):
        super().__init__()
        self.transform = torch.nn.Module()
        self.transform.dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.LayerNorm = torch.nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings
        self.bias = torch.nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, h):
        t = self.transform
        return self.decoder(t.LayerNorm(torch.nn.functional.gelu(t.dense(h)))) + self.bias


def test_mlm_head(capsys):
    assert_checker_passes(check_mlm_head, ReferenceMLMHead, capsys)
    assert_checker_passes(check_mlm_head, MyMLMHead, capsys)

    class Copied(MyMLMHead):  # a copy of the embeddings, not the same Parameter
        def __init__(self, config, word_embeddings):
            super().__init__(config, torch.nn.Parameter(word_embeddings.detach().clone()))

    class NoTransform(MyMLMHead):
        def forward(self, h):
            return self.decoder(h) + self.bias

    class NoBias(MyMLMHead):
        def forward(self, h):
            return super().forward(h) - self.bias

    class NoNorm(MyMLMHead):
        def forward(self, h):
            return self.decoder(torch.nn.functional.gelu(self.transform.dense(h))) + self.bias

    class NotStarted(torch.nn.Module):
        def __init__(self, config, word_embeddings):
            super().__init__()
            raise NotImplementedError()

    assert_checker_fails(check_mlm_head, Copied, capsys, hint="not a copy")
    assert_checker_fails(check_mlm_head, NoTransform, capsys, hint="transform")
    assert_checker_fails(check_mlm_head, NoBias, capsys, hint="own bias")
    assert_checker_fails(check_mlm_head, NoNorm, capsys, hint="LayerNorm")
    assert check_mlm_head(NotStarted) is False
    assert "NotImplementedError" in capsys.readouterr().out


def my_masked_lm_loss(hidden_states, labels, head):
    logits = head(hidden_states)  # every position (slower), ignore_index drops the others: same value
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def test_masked_lm_loss(capsys):
    assert_checker_passes(check_masked_lm_loss, reference_masked_lm_loss, capsys)
    assert_checker_passes(check_masked_lm_loss, my_masked_lm_loss, capsys)

    def per_sequence(hidden_states, labels, head):
        rows = [torch.nn.functional.cross_entropy(head(h[l != -100]), l[l != -100])
                for h, l in zip(hidden_states, labels)]
        return torch.stack(rows).mean()

    def summed(hidden_states, labels, head):
        sel = labels != -100
        return torch.nn.functional.cross_entropy(head(hidden_states[sel]), labels[sel], reduction="sum")

    def softmax_first(hidden_states, labels, head):
        sel = labels != -100
        return torch.nn.functional.cross_entropy(head(hidden_states[sel]).softmax(-1), labels[sel])

    def detached(hidden_states, labels, head):
        return torch.tensor(reference_masked_lm_loss(hidden_states, labels, head).item())

    def do_nothing(hidden_states, labels, head):
        raise NotImplementedError()

    assert_checker_fails(check_masked_lm_loss, per_sequence, capsys, hint="not per sequence")
    assert_checker_fails(check_masked_lm_loss, summed, capsys, hint="the mean, not the sum")
    assert_checker_fails(check_masked_lm_loss, softmax_first, capsys, hint="do not softmax")
    assert_checker_fails(check_masked_lm_loss, detached, capsys, hint="graph")
    assert check_masked_lm_loss(do_nothing) is False
    assert "NotImplementedError" in capsys.readouterr().out


def test_whole_word_select(capsys):
    import random

    assert_checker_passes(check_whole_word_select, reference_whole_word_select, capsys)

    def my_wwm(tokens, rng, mlm_probability=0.15):
        words = []
        for i, t in enumerate(tokens):
            if t.startswith("["):
                continue
            if t.startswith("##") and words:
                words[-1].append(i)
            else:
                words.append([i])
        goal = max(1, round(mlm_probability * sum(map(len, words))))
        out = []
        for w in rng.sample(words, len(words)):
            if len(out) + len(w) <= goal:
                out += w
        return sorted(out)

    assert_checker_passes(check_whole_word_select, my_wwm, capsys)

    def token_level(tokens, rng, mlm_probability=0.15):
        cand = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]", "[PAD]")]
        return sorted(rng.sample(cand, max(1, round(mlm_probability * len(cand)))))

    def with_specials(tokens, rng, mlm_probability=0.15):
        return sorted(set(my_wwm(tokens, rng, mlm_probability)) | {0})

    def pieces_with_next_word(tokens, rng, mlm_probability=0.15):  # groups '##' with the FOLLOWING token
        words, current = [], []
        for i, t in enumerate(tokens):
            if t in ("[CLS]", "[SEP]", "[PAD]"):
                continue
            current.append(i)
            if not t.startswith("##"):
                words.append(current)
                current = []
        goal = max(1, round(mlm_probability * (sum(map(len, words)))))
        out = []
        for w in rng.sample(words, len(words)):
            if len(out) + len(w) <= goal:
                out += w
        return sorted(out)

    def always_first_words(tokens, rng, mlm_probability=0.15):
        return my_wwm(tokens, random.Random(0), mlm_probability)

    def do_nothing(tokens, rng, mlm_probability=0.15):
        return []

    assert_checker_fails(check_whole_word_select, token_level, capsys, hint="select all its pieces")
    assert_checker_fails(check_whole_word_select, with_specials, capsys, hint="never predicted")
    assert_checker_fails(check_whole_word_select, pieces_with_next_word, capsys, hint="AFTER it")
    assert_checker_fails(check_whole_word_select, always_first_words, capsys, hint="shuffle")
    assert_checker_fails(check_whole_word_select, do_nothing, capsys, hint="nothing was selected")


# ------------------------------------------------------------------------------------------- the training step
# Written as a learner would in notebook 07 (the model's forward gives (token vectors, NSP logits)); each wrong
# version has one classic bug, and the checker must name it.

import torch.nn.functional as F  # noqa: E402

from bert_edu.exercises.pretraining import check_train_step, reference_masked_lm_loss, reference_train_step  # noqa: E402


def _losses(model, batch, nsp_weight):
    hidden, nsp_logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    mlm = reference_masked_lm_loss(hidden, batch["labels"], model.cls.predictions)
    nsp = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    return mlm, nsp, mlm + nsp_weight * nsp


def my_train_step(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    model.train()
    optimizer.zero_grad()  # at the start instead of the end: the same steps
    mlm, nsp, loss = _losses(model, batch, nsp_weight)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    return mlm.item(), nsp.item()


def step_without_zero_grad(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    model.train()
    mlm, nsp, loss = _losses(model, batch, nsp_weight)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    return mlm.item(), nsp.item()


def step_clipping_after_the_step(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    model.train()
    mlm, nsp, loss = _losses(model, batch, nsp_weight)
    loss.backward()
    optimizer.step()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scheduler.step()
    optimizer.zero_grad()
    return mlm.item(), nsp.item()


def step_scheduler_first(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    model.train()
    mlm, nsp, loss = _losses(model, batch, nsp_weight)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scheduler.step()
    optimizer.step()
    optimizer.zero_grad()
    return mlm.item(), nsp.item()


def step_in_eval_mode(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    mlm, nsp, loss = _losses(model, batch, nsp_weight)  # no model.train(): dropout stays off
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return mlm.item(), nsp.item()


def test_train_step_accepts_the_reference(capsys):
    assert_checker_passes(check_train_step, reference_train_step, capsys)
    assert_checker_passes(check_train_step, my_train_step, capsys)


def test_train_step_names_each_classic_bug(capsys):
    assert_checker_fails(check_train_step, step_without_zero_grad, capsys, hint="optimizer.zero_grad()` is missing")
    assert_checker_fails(check_train_step, step_clipping_after_the_step, capsys,
                         hint="clipping after the optimiser step")
    assert_checker_fails(check_train_step, step_scheduler_first, capsys,
                         hint="scheduler stepped before the optimiser")
    assert_checker_fails(check_train_step, step_in_eval_mode, capsys, hint="model.eval() left on during training")


def test_train_step_rejects_a_step_that_ignores_nsp(capsys):
    def mlm_only(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
        model.train()
        mlm, nsp, _ = _losses(model, batch, nsp_weight)
        mlm.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        return mlm.item(), nsp.item()

    assert_checker_fails(check_train_step, mlm_only, capsys)


def test_notebook_07_solution_passes_check_train_step(capsys):
    """The solution region of notebook 07's train_step, run in the notebook's namespace, passes the checker."""
    import nbformat

    from bert_edu.exercises.pretraining import reference_masked_lm_loss as masked_lm_loss
    from pathlib import Path

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "07_pretraining.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "def train_step(" in c.source]
    assert len(cells) == 1 and "### BEGIN SOLUTION" in cells[0], "notebook 07's train_step is not an exercise region"
    namespace = {"masked_lm_loss": masked_lm_loss, "F": F, "torch": torch}
    exec(compile(cells[0].replace("#| export\n", ""), "<07 train_step>", "exec"), namespace)
    assert_checker_passes(check_train_step, namespace["train_step"], capsys)
