"""Checkers for notebook 07 (pretraining): the 80/10/10 masking rule, a next-sentence pair sampler, a
prediction of the loss at initialisation, the MLM head with tied weights, the masked-LM loss over the selected
positions only, and whole-word masking."""

from __future__ import annotations

import math
import random

import torch

from bert_edu.exercises._harness import CaseFailed, Checker
from bert_edu.data.pretraining import IGNORE_INDEX, apply_mask_rule

# ------------------------------------------------------------------------------------------------ masking


def reference_mask_rule(input_ids, selected, u, random_tokens, mask_id):
    """(masked_input_ids, labels): see bert_edu.data.pretraining.apply_mask_rule."""
    return apply_mask_rule(input_ids, selected, u, random_tokens, mask_id)


def check_mask_rule(fn, quiet: bool = False) -> bool:
    """fn(input_ids, selected, u, random_tokens, mask_id) -> (masked_input_ids, labels).

    At each selected position: u < 0.8 -> mask_id, 0.8 <= u < 0.9 -> random_tokens, otherwise unchanged.
    labels: the original token at every selected position, -100 elsewhere."""
    ck = Checker("mask_rule", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, 100, (4, 12), generator=g)
    input_ids[:, 0], input_ids[:, -1] = 2, 3
    selected = torch.rand(4, 12, generator=g) < 0.4
    selected[:, 0] = selected[:, -1] = False
    u = torch.rand(4, 12, generator=g)
    random_tokens = torch.randint(5, 100, (4, 12), generator=g)
    mask_id = 4
    ref_masked, ref_labels = reference_mask_rule(input_ids, selected, u, random_tokens, mask_id)

    def wrong_all_mask():  # every selected token -> [MASK]
        return torch.where(selected, torch.full_like(input_ids, mask_id), input_ids)

    def wrong_order():  # 10% [MASK], 80% random
        m = torch.where(selected & (u < 0.1), torch.full_like(input_ids, mask_id), input_ids)
        return torch.where(selected & (u >= 0.1) & (u < 0.9), random_tokens, m)

    def wrong_everywhere():  # the rule applied to every position, not only the selected ones
        m = torch.where(u < 0.8, torch.full_like(input_ids, mask_id), input_ids)
        return torch.where((u >= 0.8) & (u < 0.9), random_tokens, m)

    def wrong_labels_only_masked():  # labels only where [MASK] was put
        return torch.where(selected & (u < 0.8), input_ids, torch.full_like(input_ids, IGNORE_INDEX))

    with ck.case("4 sequences of 12, about 40% selected") as case:
        out = fn(input_ids.clone(), selected, u, random_tokens, mask_id)
        case.expect(isinstance(out, tuple) and len(out) == 2, "return a tuple (masked_input_ids, labels)")
        masked, labels = out
        case.expect_equal(masked, ref_masked, what="masked_input_ids", mistakes={
            "only 80% of the selected tokens become [MASK]; 10% get a random token, 10% stay": wrong_all_mask(),
            "the thresholds are swapped: u < 0.8 -> [MASK], 0.8 <= u < 0.9 -> random token": wrong_order(),
            "apply the rule only at the selected positions": wrong_everywhere(),
        })
        case.expect_equal(labels, ref_labels, what="labels", mistakes={
            "labels must hold the original token at every selected position, also where the token was "
            "replaced by a random one or kept": wrong_labels_only_masked(),
            "labels must be -100 where nothing is predicted, not the input token": input_ids,
            "labels hold the ORIGINAL tokens, not the masked input": torch.where(selected, ref_masked,
                                                                                 ref_labels),
        })
    with ck.case("your function does not change input_ids in place") as case:
        before = input_ids.clone()
        fn(input_ids, selected, u, random_tokens, mask_id)
        case.expect(torch.equal(input_ids, before), "input_ids was modified in place: work on a copy "
                                                    "(input_ids.clone() or torch.where)")
    with ck.case("edge case: nothing selected") as case:
        none = torch.zeros_like(selected)
        masked, labels = fn(input_ids.clone(), none, u, random_tokens, mask_id)
        case.expect_equal(masked, input_ids, what="masked_input_ids (nothing selected: unchanged)")
        case.expect(bool((labels == IGNORE_INDEX).all()), "with nothing selected every label must be -100")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------ NSP


def reference_nsp_pair(documents, doc_index, rng):
    """(sentence_a, sentence_b, label): A and the sentence after it (label 0, IsNext) or a sentence of
    another document (label 1, NotNext), each with probability 1/2."""
    document = documents[doc_index]
    k = rng.randrange(len(document) - 1)  # A = sentence k; it has a successor
    if rng.random() < 0.5:
        return document[k], document[k + 1], 0
    other = doc_index
    while other == doc_index:
        other = rng.randrange(len(documents))
    return document[k], rng.choice(documents[other]), 1


def _nsp_documents():
    r = random.Random(3)
    return [[f"d{d}s{s}" for s in range(r.randint(2, 8))] for d in range(12)]


def _parse(sentence):
    d, s = sentence[1:].split("s")
    return int(d), int(s)


def check_nsp_pair(fn, quiet: bool = False) -> bool:
    """fn(documents, doc_index, rng) -> (sentence_a, sentence_b, label) with label 0 = IsNext (B is the
    sentence right after A in the same document) and 1 = NotNext (B from another document), 50/50.

    Checked on 12 synthetic documents whose sentences say where they come from ("d3s5" = document 3,
    sentence 5), over 3,000 draws."""
    ck = Checker("nsp_pair", fn, quiet=quiet)
    docs = _nsp_documents()
    rng = random.Random(0)
    draws = []
    with ck.case("3,000 pairs: the return value") as case:
        for i in range(3000):
            doc_index = i % len(docs)
            out = fn(docs, doc_index, rng)
            case.expect(isinstance(out, tuple) and len(out) == 3, "return (sentence_a, sentence_b, label)")
            case.expect(out[2] in (0, 1), f"the label must be 0 (IsNext) or 1 (NotNext), got {out[2]!r}")
            draws.append((doc_index, *out))
    if len(draws) < 3000:
        return ck.verdict()
    with ck.case("A comes from the given document") as case:
        bad = [(i, a) for i, a, _, _ in draws if _parse(a)[0] != i]
        case.expect(not bad, f"A={bad[0][1]!r} is not a sentence of documents[{bad[0][0]}]" if bad else "")
    nexts = [(a, b) for _, a, b, label in draws if label == 0]
    randoms = [(i, b) for i, _, b, label in draws if label == 1]
    with ck.case("IsNext (label 0): B is the sentence right after A") as case:
        reversed_labels = nexts and all(_parse(b)[0] != _parse(a)[0] for a, b in nexts)
        case.expect(not reversed_labels, "your label-0 pairs are all from different documents: the labels "
                                         "are swapped. transformers' convention: 0 = IsNext, 1 = NotNext")
        bad = [(a, b) for a, b in nexts if _parse(b) != (_parse(a)[0], _parse(a)[1] + 1)]
        case.expect(not bad, f"A={bad[0][0]!r} but B={bad[0][1]!r}: B must be the next sentence of the same "
                             "document" if bad else "")
    with ck.case("NotNext (label 1): B comes from another document") as case:
        bad = [(i, b) for i, b in randoms if _parse(b)[0] == i]
        case.expect(not bad, f"B={bad[0][1]!r} comes from A's own document {bad[0][0]}: pick another "
                             "document (a random sentence of the same one is too easy to spot, and sometimes "
                             "it IS the next sentence)" if bad else "")
        used = {_parse(b)[0] for _, b in randoms}
        case.expect(len(used) >= 10, f"NotNext B came from only {len(used)} of 12 documents: pick the other "
                                     "document at random")
    with ck.case("both classes about 50%, A not always the same sentence") as case:
        share = len(nexts) / len(draws)
        case.expect(0.45 < share < 0.55, f"{share:.0%} of your pairs are IsNext: flip a fair coin, so the "
                                         "model cannot score by always guessing one class")
        starts = {_parse(a)[1] for _, a, _, _ in draws}
        case.expect(len(starts) >= 5, "A is always the same sentence of a document: choose A at random "
                                      "among the sentences that have a successor")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------ predict


def reference_initial_losses(vocab_size: int) -> tuple[float, float]:
    """A freshly initialised model spreads its bets evenly: cross-entropy -ln(1/V) and -ln(1/2)."""
    return math.log(vocab_size), math.log(2)


def check_initial_losses(fn, quiet: bool = False) -> bool:
    """fn(vocab_size) -> (mlm_loss, nsp_loss): your prediction of the losses of a freshly initialised BERT."""
    ck = Checker("initial_losses", fn, quiet=quiet)
    for vocab_size in (4000, 30522, 100):
        with ck.case(f"vocabulary of {vocab_size:,}") as case:
            got = fn(vocab_size)
            case.expect(isinstance(got, (tuple, list)) and len(got) == 2, "return a pair (mlm_loss, nsp_loss)")
            case.expect_close(torch.tensor([float(x) for x in got]),
                              torch.tensor(reference_initial_losses(vocab_size)), atol=1e-3, mistakes={
                "a loss is a negative log-probability, not a probability: -ln(1/V), not 1/V":
                    torch.tensor([1 / vocab_size, 0.5]),
                "cross-entropy uses the natural logarithm (math.log), not log2":
                    torch.tensor([math.log2(vocab_size), 1.0]),
                "cross-entropy uses the natural logarithm (math.log), not log10":
                    torch.tensor([math.log10(vocab_size), math.log10(2)]),
            }, what="(mlm_loss, nsp_loss)")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------ MLM head


def _head_config():
    from bert_edu.model.config import BertConfig

    return BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32)


class ReferenceMLMHead(torch.nn.Module):
    """transform (dense -> GELU -> LayerNorm), then a decoder whose weight IS the word-embedding matrix,
    plus a bias of its own (one per vocabulary entry). Names as transformers' ``cls.predictions``."""

    def __init__(self, config, word_embeddings: torch.nn.Parameter):
        super().__init__()
        from bert_edu.model.heads import BertPredictionHeadTransform

        self.transform = BertPredictionHeadTransform(config)
        self.decoder = torch.nn.Linear(config.hidden_size, config.vocab_size)
        self.decoder.weight = word_embeddings  # tied: one matrix reads words in and writes them out
        self.bias = torch.nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # saved as cls.predictions.bias, as in transformers

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


def _copy_transform(head, reference) -> None:
    """Give the learner's head the reference's transform and bias values (by name), so outputs compare."""
    with torch.no_grad():
        ours = dict(head.named_parameters())
        for name, value in reference.named_parameters():
            if name in ours and name != "decoder.weight" and ours[name].shape == value.shape:
                ours[name].copy_(value)


def check_mlm_head(cls, quiet: bool = False) -> bool:
    """cls(config, word_embeddings) -> an nn.Module; module(hidden_states) -> logits (..., vocab_size).

    transform = dense (hidden -> hidden), GELU, LayerNorm; decoder = the word-embedding matrix itself (tied,
    not a copy); a bias of its own, one per token, starting at zero. Attribute names as transformers:
    ``transform.dense``, ``transform.LayerNorm``, ``decoder``, ``bias``."""
    ck = Checker("mlm_head", cls, quiet=quiet)
    config = _head_config()
    torch.manual_seed(0)
    embeddings = torch.nn.Parameter(torch.randn(config.vocab_size, config.hidden_size) * 0.5)
    reference = ReferenceMLMHead(config, embeddings)
    with torch.no_grad():
        for p in reference.transform.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        reference.bias.add_(torch.randn_like(reference.bias))
    hidden = torch.randn(3, 5, config.hidden_size)
    with ck.case("construction and names") as case:
        head = cls(config, embeddings)
        case.expect(isinstance(head, torch.nn.Module), "MLMHead must be an nn.Module (class MLMHead(nn.Module))")
        names = {n for n, _ in head.named_parameters()}
        missing = [n for n in ("transform.dense.weight", "transform.LayerNorm.weight", "bias") if n not in names]
        case.expect(not missing, f"missing parameters {missing}: use transformers' names (self.transform.dense, "
                                 "self.transform.LayerNorm, self.decoder, self.bias) so checkpoints load")
    if not ck.passed:
        return ck.verdict()
    with ck.case("the decoder is tied to the word embeddings") as case:
        case.expect(getattr(getattr(head, "decoder", None), "weight", None) is embeddings,
                    "head.decoder.weight must BE the word-embedding Parameter (self.decoder.weight = "
                    "word_embeddings), not a copy: a copy drifts apart during training and doubles the parameters")
    with ck.case("a bias of its own, one per token, starting at 0") as case:
        bias = dict(head.named_parameters()).get("bias")
        case.expect(bias is not None and tuple(bias.shape) == (config.vocab_size,),
                    f"bias must have shape ({config.vocab_size},): one per vocabulary entry")
        case.expect(bool((bias == 0).all()), "initialise the bias with zeros (as BERT)")
    with ck.case("logits on 3 x 5 hidden states, same transform weights as the reference") as case:
        _copy_transform(head, reference)
        with torch.no_grad():
            got = head(hidden)
            expected = reference(hidden)
            t = reference.transform
            no_transform = hidden @ embeddings.T + reference.bias
            no_norm = t.transform_act_fn(t.dense(hidden)) @ embeddings.T + reference.bias
            no_act = t.LayerNorm(t.dense(hidden)) @ embeddings.T + reference.bias
            no_bias = expected - reference.bias
        case.expect_close(got, expected, atol=1e-4, what="logits", mistakes={
            "the transform (dense -> GELU -> LayerNorm) comes before the decoder": no_transform,
            "LayerNorm after the GELU is missing": no_norm,
            "the GELU between dense and LayerNorm is missing": no_act,
            "add the head's own bias to the decoder's output": no_bias,
        })
    with ck.case("a gradient through the logits reaches the word embeddings") as case:
        embeddings.grad = None
        head(hidden).sum().backward()
        case.expect(embeddings.grad is not None and bool(embeddings.grad.abs().sum() > 0),
                    "no gradient reached the word embeddings: the decoder must use the very same Parameter")
    return ck.verdict()


def reference_masked_lm_loss(hidden_states, labels, head):
    """Mean cross-entropy over the selected positions (labels != -100) only; the head runs only there."""
    selected = labels != IGNORE_INDEX
    logits = head(hidden_states[selected])  # (n_selected, V): the other positions cost nothing
    return torch.nn.functional.cross_entropy(logits, labels[selected])


def check_masked_lm_loss(fn, quiet: bool = False) -> bool:
    """fn(hidden_states (B, T, H), labels (B, T), head) -> scalar: the mean cross-entropy over the positions
    where labels != -100, every selected position of the batch weighted equally."""
    ck = Checker("masked_lm_loss", fn, quiet=quiet)
    config = _head_config()
    torch.manual_seed(1)
    head = ReferenceMLMHead(config, torch.nn.Parameter(torch.randn(config.vocab_size, config.hidden_size)))
    hidden = torch.randn(3, 8, config.hidden_size)
    labels = torch.full((3, 8), IGNORE_INDEX)
    for row, cols in enumerate([[1, 4], [2], [0, 3, 5, 6, 7]]):  # rows with 2, 1 and 5 predictions
        labels[row, cols] = torch.randint(0, config.vocab_size, (len(cols),))
    expected = reference_masked_lm_loss(hidden, labels, head)
    with torch.no_grad():
        all_logits = head(hidden)
    ce = torch.nn.functional.cross_entropy
    sel = labels != IGNORE_INDEX
    per_row = torch.stack([ce(all_logits[r][sel[r]], labels[r][sel[r]]) for r in range(3)]).mean()
    summed = ce(all_logits[sel], labels[sel], reduction="sum")
    probs_ce = ce(all_logits[sel].softmax(-1), labels[sel])
    with ck.case("3 sequences with 2, 1 and 5 selected positions") as case:
        got = fn(hidden, labels.clone(), head)
        case.expect(torch.is_tensor(got) and got.dim() == 0, "return a scalar tensor (the mean loss)")
        case.expect(got.requires_grad, "the loss must keep its graph (no .item(), no torch.no_grad()): it is "
                                       "what backward() starts from")
        case.expect_close(got, expected, atol=1e-5, what="loss", mistakes={
            "average over all selected positions of the batch, not per sequence first (a sequence with one "
            "prediction would weigh as much as one with five)": per_row,
            "the mean, not the sum, over the selected positions": summed,
            "cross_entropy takes logits: it applies log-softmax itself, do not softmax first": probs_ce,
        })
    with ck.case("positions with label -100 do not matter") as case:
        clean = fn(hidden, labels.clone(), head).item()
        noisy = hidden.clone()
        noisy[~sel] = 1e3  # garbage where nothing is predicted
        got = fn(noisy, labels.clone(), head).item()
        case.expect(math.isfinite(got) and abs(got - clean) < 1e-4,
                    "the loss changed when only unselected positions changed: use the positions where "
                    "labels != -100 only")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------ whole words


def reference_whole_word_select(tokens, rng, mlm_probability=0.15):
    """Positions to predict, whole words at a time (the BERT repository's --do_whole_word_mask).

    A word is a token plus the ``##`` pieces that follow it; [CLS], [SEP] and [PAD] are never chosen. Aim
    for ``max(1, round(mlm_probability * n))`` of the ``n`` candidate tokens: go through the words in a
    random order (``rng.shuffle``), take a word if it still fits, stop when the count is reached."""
    words = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if words and token.startswith("##") and words[-1][-1] == i - 1:
            words[-1].append(i)
        else:
            words.append([i])
    n_target = max(1, round(mlm_probability * sum(len(w) for w in words)))
    rng.shuffle(words)
    chosen = []
    for word in words:
        if len(chosen) >= n_target:
            break
        if len(chosen) + len(word) <= n_target:
            chosen += word
    return sorted(chosen)


_WWM_TOKENS = ("[CLS] the un ##bel ##iev ##able story of a young boy who dream ##s of fly ##ing ; it is "
               "a master ##piece , and the cast is great . [SEP] a must see for every fan ##s of "
               "anim ##ation [SEP]").split()


def check_whole_word_select(fn, quiet: bool = False) -> bool:
    """fn(tokens, rng, mlm_probability=0.15) -> sorted list of positions to predict: whole words only
    (a token and the ## pieces after it), never [CLS]/[SEP]/[PAD], about 15% of the candidate tokens."""
    ck = Checker("whole_word_select", fn, quiet=quiet)
    tokens = list(_WWM_TOKENS)
    special = {i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]", "[PAD]")}
    word_of, w = {}, -1
    for i, t in enumerate(tokens):
        if i in special:
            continue
        if not (t.startswith("##") and i - 1 in word_of):
            w += 1
        word_of[i] = w
    n_candidates = len(word_of)
    n_target = max(1, round(0.15 * n_candidates))
    rng = random.Random(0)
    draws = []
    with ck.case(f"{len(tokens)} tokens, 500 draws: the return value") as case:
        for _ in range(500):
            got = fn(list(tokens), rng)
            case.expect(got is not None, "your function returns None: did you forget `return`?")
            got = [int(i) for i in got]
            case.expect(len(got) > 0, "nothing was selected: choose about 15% of the tokens, whole words")
            draws.append(got)
    if len(draws) < 500:
        return ck.verdict()
    with ck.case("never a special token, no position twice") as case:
        bad = [d for d in draws if set(d) & special]
        case.expect(not bad, "[CLS], [SEP] and [PAD] are never predicted: skip them")
        case.expect(all(len(set(d)) == len(d) for d in draws), "a position was selected twice")
    with ck.case("whole words: a ## piece is chosen together with the rest of its word") as case:
        for d in draws:
            chosen = set(d)
            for i in chosen:
                whole = {j for j, ww in word_of.items() if ww == word_of.get(i)}
                if not whole <= chosen:
                    part = " ".join(tokens[j] for j in sorted(chosen & whole))
                    word = " ".join(tokens[j] for j in sorted(whole))
                    case.expect(False, f"you chose {part!r} but not all of the word {word!r}: a word is a "
                                       "token plus the ## pieces AFTER it; select all its pieces or none")
    with ck.case(f"about 15%: at most {n_target} of {n_candidates} candidates, words chosen at random") as case:
        too_many = [d for d in draws if len(d) > n_target]
        case.expect(not too_many, f"{len(too_many[0]) if too_many else 0} positions selected: at most "
                                  f"max(1, round(0.15 x {n_candidates})) = {n_target}; skip a word that "
                                  "no longer fits")
        mean = sum(len(d) for d in draws) / len(draws)
        case.expect(mean >= 0.8 * n_target, f"on average only {mean:.1f} positions selected, aim for "
                                            f"{n_target}: keep taking words until the count is reached")
        firsts = {min(d) for d in draws}
        case.expect(len(firsts) >= 10, "the same words are chosen every time: shuffle the words with rng")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------ the training step
#
# The checker runs the learner's ``train_step`` for a few steps on a tiny model of its own and compares the
# losses and every parameter after each step with the package's step (the package's model, loss, clipping,
# optimiser and schedule: ``bert_edu.train.common``). Its configuration makes each classic bug visible:
# dropout above 0 and a model handed over in eval mode (as after an evaluation), so a step that does not put it
# back in training mode shows; a clipping threshold far below the gradient norm, so the order of clipping and
# the optimiser step shows; warmup, so a scheduler stepped first shows; several steps, so accumulated gradients
# show. The classic bugs are simulated with the same step (``_step(..., bug=...)``) and named when they match.

STEP_BUGS = {
    "no_zero_grad": "gradients accumulate: `optimizer.zero_grad()` is missing, so each step adds this batch's "
                    "gradient to all the earlier ones",
    "clip_after_step": "clipping after the optimiser step: clip the gradient norm BEFORE `optimizer.step()`, or "
                       "the step uses the unclipped gradients",
    "scheduler_first": "the scheduler stepped before the optimiser: call `scheduler.step()` AFTER "
                       "`optimizer.step()`, or every step uses the next step's learning rate (and the first "
                       "one skips warmup's learning rate 0)",
    "eval_mode": "model.eval() left on during training: the step never calls `model.train()`, so dropout is off "
                 "(the model arrives in eval mode, as after an evaluation)",
}


class _NotebookPretrainingModel(torch.nn.Module):
    """Notebook 07's interface around the package's BertForPreTraining: forward -> (token vectors, NSP logits),
    the heads under ``.cls`` (``cls.predictions`` is the MLM head, ``cls.seq_relationship`` the NSP head)."""

    def __init__(self, package):
        super().__init__()
        self.bert, self.cls = package.bert, package.cls

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        out = self.bert(input_ids, attention_mask, token_type_ids)
        return out.last_hidden_state, self.cls.seq_relationship(out.pooler_output)


def reference_train_step(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0):
    """One optimiser step of notebook 07 (the package's step): training mode, forward (under autocast on a
    GPU), loss = MLM + nsp_weight x NSP, backward, clip the gradient norm, optimiser step, scheduler step,
    zero the gradients. Returns (MLM loss, NSP loss) as floats."""
    return _step(model, batch, optimizer, scheduler, nsp_weight, max_grad_norm)


def _step(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0, bug=None):
    from bert_edu.exercises._loops import update
    from bert_edu.train.common import autocast

    if bug != "eval_mode":
        model.train()
    with autocast(batch["input_ids"].device):
        hidden, nsp_logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        mlm = reference_masked_lm_loss(hidden, batch["labels"], model.cls.predictions)
    nsp = torch.nn.functional.cross_entropy(nsp_logits.float(), batch["next_sentence_label"])
    (mlm.float() + nsp_weight * nsp).backward()
    update(model, optimizer, scheduler, max_grad_norm, bug)
    return mlm.item(), nsp.item()


def _step_batches(vocab_size: int, n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n):
        input_ids = torch.randint(5, vocab_size, (6, 12), generator=g)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[1, 9:] = 0
        attention_mask[4, 7:] = 0
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        selected = (torch.rand(input_ids.shape, generator=g) < 0.3) & attention_mask.bool()
        selected[:, 1] = True  # at least one prediction per sequence
        labels[selected] = input_ids[selected]
        input_ids = torch.where(selected, torch.full_like(input_ids, 4), input_ids)  # 4 plays [MASK]
        token_type_ids = (torch.arange(12) >= 6).long().expand(6, 12).clone()
        batches.append({"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                        "labels": labels, "next_sentence_label": torch.randint(0, 2, (6,), generator=g)})
    return batches


def _run_steps(step, optimizer_kind: str, seed: int, bug=None):
    """Run ``step`` for len(batches) steps from the same start; returns (losses (steps, 2), parameters after each
    step (steps, n_parameters), the gradient norm before the first clipping)."""
    import copy
    import warnings

    from bert_edu.model.config import BertConfig
    from bert_edu.model.heads import BertForPreTraining
    from bert_edu.train.common import linear_warmup_decay, make_optimizer

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.2,
                        attention_probs_dropout_prob=0.1)
    torch.manual_seed(seed)
    model = _NotebookPretrainingModel(BertForPreTraining(config)).eval()  # as after an evaluation
    model = copy.deepcopy(model)
    if optimizer_kind == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        scheduler = linear_warmup_decay(optimizer, 1, 5)
    else:
        optimizer = make_optimizer(model, lr=3e-2, weight_decay=0.01)
        scheduler = linear_warmup_decay(optimizer, 1, 5)
    losses, params = [], []
    torch.manual_seed(seed + 1)  # the dropout masks: the same for every run
    for batch in _step_batches(config.vocab_size, 3, seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns when the scheduler is stepped first: the checker says so
            out = step(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=0.05)
        losses.append(out)
        params.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    return losses, torch.stack(params)


def check_train_step(fn, quiet: bool = False) -> bool:
    """fn(model, batch, optimizer, scheduler, nsp_weight=1.0, max_grad_norm=1.0) -> (mlm_loss, nsp_loss):
    one optimiser step of pretraining, as in notebook 07. Run for 3 steps on a tiny model with dropout, a
    model handed over in eval mode, a clipping threshold below the gradient norm and a warmup of one step,
    and compared after every step with the package's step."""
    ck = Checker("train_step", fn, quiet=quiet)
    for kind, title in (("sgd", "3 steps with plain SGD (every change to the gradient shows in the weights)"),
                        ("adamw", "3 steps with the package's AdamW groups and warmup, as in the notebook")):
        with ck.case(title) as case:
            got_losses, got_params = _run_steps(fn, kind, seed=0)
            exp_losses, exp_params = _run_steps(reference_train_step, kind, seed=0)
            wrong = {STEP_BUGS[bug]: _run_steps(lambda *a, **k: _step(*a, **k, bug=bug), kind, seed=0)
                     for bug in STEP_BUGS}
            case.expect(all(isinstance(x, (tuple, list)) and len(x) == 2 for x in got_losses),
                        f"return the pair (mlm_loss, nsp_loss) of the step, got {got_losses[0]!r}")
            try:
                got_l = torch.tensor([[float(v) for v in x] for x in got_losses])
            except (TypeError, ValueError, RuntimeError):
                raise CaseFailed(f"return two numbers (mlm_loss, nsp_loss), e.g. with .item(); got {got_losses[0]!r}")
            exp_l = torch.tensor(exp_losses)
            got = torch.cat([got_l.flatten(), got_params.flatten()])
            mistakes = {hint: torch.cat([torch.tensor(l).flatten(), p.flatten()]) for hint, (l, p) in wrong.items()}
            for hint, w in mistakes.items():
                if _close_all(got, w):
                    raise CaseFailed(f"the weights after the steps do not match the package's step. Likely "
                                     f"mistake: {hint}")
            for k in range(len(exp_l)):
                case.expect(_close_all(got_l[k], exp_l[k]),
                            f"step {k + 1}: losses (MLM, NSP) = {got_l[k].tolist()}, the package's step gives "
                            f"{exp_l[k].tolist()}. Forward pass in training mode, MLM loss over the selected "
                            "positions + nsp_weight x NSP loss.")
                case.expect(_close_all(got_params[k], exp_params[k]),
                            f"after step {k + 1} the weights differ from the package's step (largest difference "
                            f"{(got_params[k] - exp_params[k]).abs().max().item():.3g}). The order is: backward, "
                            "clip the gradient norm to max_grad_norm, optimizer.step(), scheduler.step(), "
                            "optimizer.zero_grad().")
    return ck.verdict()


def _close_all(a, b) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=1e-6, rtol=1e-5))
