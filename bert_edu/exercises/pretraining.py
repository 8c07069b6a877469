"""Checkers for notebook 07 (pretraining): the 80/10/10 masking rule, a next-sentence pair sampler, and
a prediction of the loss at initialisation."""

from __future__ import annotations

import math
import random

import torch

from bert_edu.exercises._harness import Checker
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
