"""NSP pairs, packing and MLM masking (bert_edu.data.pretraining): the classic data bugs, on synthetic ids.

Synthetic documents make every token traceable: sentence s of document d is SENT_LEN copies of the id
``token(d, s)``, so from any token we can tell which document and sentence it came from.
"""

import random

import pytest
import torch

from bert_edu.data.pretraining import (IGNORE_INDEX, IS_NEXT, NOT_NEXT, PretrainingData, SpecialIds,
                                  candidate_mask, collate_and_mask, create_instances, encode_instance, eval_batches, mask_tokens,
                                  select_positions, shard, split_documents, truncate_seq_pair)

IDS = SpecialIds(cls=2, sep=3, pad=0, mask=4, vocab_size=30000, special=(0, 1, 2, 3, 4))
N_DOCS, SENT_LEN, FIRST = 40, 10, 10


def token(d, s):
    return FIRST + d * 100 + s


def where(t):
    return divmod(t - FIRST, 100)  # (document, sentence)


def synthetic_documents(n_docs=N_DOCS, seed=0, max_sentences=20):
    rng = random.Random(seed)
    return [[[token(d, s)] * SENT_LEN for s in range(rng.randint(2, max_sentences))] for d in range(n_docs)]


# --------------------------------------------------------------------------------------------- NSP


def test_nsp_pairs_are_consecutive_or_from_another_document():
    docs = synthetic_documents()
    instances = create_instances(docs, seq_len=64, rng=random.Random(1), short_seq_prob=0.0)
    assert len(instances) > 100
    n_next = 0
    for inst in instances:
        a = [where(t) for t in inst.tokens_a]
        b = [where(t) for t in inst.tokens_b]
        doc_a = {d for d, _ in a}
        assert len(doc_a) == 1, "segment A mixes documents"
        # sentences appear in document order inside a segment
        assert [s for _, s in a] == sorted(s for _, s in a)
        if inst.is_random_next:
            assert not doc_a & {d for d, _ in b}, "NotNext took B from A's own document"
        else:
            n_next += 1
            assert {d for d, _ in b} == doc_a, "IsNext B is not from A's document"
            # truncation removes < SENT_LEN tokens here, so no sentence disappears: B starts right after A
            assert b[0][1] == a[-1][1] + 1, f"B starts at sentence {b[0][1]}, A ends at {a[-1][1]}"
    assert 0.4 < n_next / len(instances) < 0.6


def test_nsp_classes_are_balanced_in_batches():
    data = PretrainingData(synthetic_documents(200), IDS, seq_len=64, batch_size=32, seed=0)
    labels = torch.cat([data.batch(step)["next_sentence_label"] for step in range(20)])
    assert set(labels.tolist()) == {IS_NEXT, NOT_NEXT}
    assert 0.45 < labels.float().mean().item() < 0.55, "both NSP classes must be trained on, ~50/50"


def test_packing_respects_seq_len_and_fills_it():
    docs = synthetic_documents(max_sentences=90)
    for seq_len in (16, 64, 128):
        instances = create_instances(docs, seq_len, random.Random(0), short_seq_prob=0.0)
        lengths = [len(encode_instance(i, IDS)[0]) for i in instances]
        assert max(lengths) <= seq_len
        # sentences are packed until the target length: sequences are nearly full
        assert sum(lengths) / len(lengths) > 0.85 * seq_len


def test_short_seq_prob_gives_some_short_sequences():
    docs = synthetic_documents(200)
    lengths = [len(i.tokens_a) + len(i.tokens_b) + 3
               for i in create_instances(docs, 128, random.Random(0), short_seq_prob=0.3)]
    assert min(lengths) < 64 and max(lengths) == 128


def test_encoding_layout():
    from bert_edu.data.pretraining import Instance

    ids, types = encode_instance(Instance([7, 8], [9], False), IDS)
    assert ids == [IDS.cls, 7, 8, IDS.sep, 9, IDS.sep]
    assert types == [0, 0, 0, 0, 1, 1]


def test_truncate_seq_pair_trims_the_longer_segment():
    a, b = list(range(10)), list(range(100, 103))
    truncate_seq_pair(a, b, 8, random.Random(0))
    assert len(a) + len(b) == 8 and b == [100, 101, 102]
    assert a == sorted(a) and set(a) <= set(range(10))


def test_nsp_needs_two_documents():
    with pytest.raises(ValueError, match="two documents"):
        create_instances(synthetic_documents(1), 64, random.Random(0))


def test_split_documents_holds_out_whole_documents():
    docs = synthetic_documents(100)
    train, held = split_documents(docs, 0.1, seed=0)
    assert len(held) == 10 and len(train) == 90
    assert not {id(d) for d in train} & {id(d) for d in held}


def test_eval_batches_are_fixed_and_draw_further_passes_up_to_the_requested_size():
    docs = synthetic_documents(6, max_sentences=6)  # a small held-out set: one pass gives few pairs
    one_pass = len(create_instances(docs, 32, random.Random(0)))
    batches = eval_batches(docs, IDS, seq_len=32, batch_size=8, seed=0, max_sequences=3 * one_pass)
    again = eval_batches(docs, IDS, seq_len=32, batch_size=8, seed=0, max_sequences=3 * one_pass)
    n = sum(len(b["input_ids"]) for b in batches)
    assert one_pass < n <= 3 * one_pass
    for a, b in zip(batches, again):  # the same inputs at every evaluation
        for key in a:
            assert torch.equal(a[key], b[key])
    pairs = {tuple(row.tolist()) for b in batches for row in torch.where(b["labels"] == IGNORE_INDEX,
                                                                           b["input_ids"], b["labels"])}
    assert len(pairs) > one_pass  # further passes drew other cuts and partners, not copies
    few = eval_batches(docs, IDS, seq_len=32, batch_size=8, seed=0, max_sequences=5)
    assert sum(len(b["input_ids"]) for b in few) == 5


# --------------------------------------------------------------------------------------------- MLM


@pytest.mark.parametrize("n, expected", [(1, 1), (3, 1), (10, 2), (20, 3), (30, 4), (50, 8), (100, 15)])
def test_selection_count_is_exactly_15_percent_rounded(n, expected):
    # round half to even (Python's round, as the original): 10 * 0.15 = 1.5 -> 2, 30 * 0.15 = 4.5 -> 4
    candidates = torch.zeros(3, 120, dtype=torch.bool)
    candidates[:, 5:5 + n] = True
    selected = select_positions(candidates, 0.15, torch.Generator().manual_seed(0))
    assert selected.sum(1).tolist() == [expected] * 3
    assert not (selected & ~candidates).any()


def test_no_candidate_no_selection():
    selected = select_positions(torch.zeros(2, 8, dtype=torch.bool), 0.15, torch.Generator().manual_seed(0))
    assert not selected.any()


def padded_batch(n_rows=64, length=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, IDS.vocab_size, (n_rows, length), generator=g)
    lengths = torch.randint(8, length + 1, (n_rows,), generator=g)
    input_ids[:, 0] = IDS.cls
    for row, n in enumerate(lengths.tolist()):
        input_ids[row, n // 2] = IDS.sep
        input_ids[row, n - 1] = IDS.sep
        input_ids[row, n:] = IDS.pad
    return input_ids


def test_special_tokens_and_padding_are_never_masked():
    input_ids = padded_batch()
    special = ~candidate_mask(input_ids, IDS.special)
    for seed in range(20):
        masked, labels = mask_tokens(input_ids, IDS, torch.Generator().manual_seed(seed))
        assert (labels[special] == IGNORE_INDEX).all(), "a special token or [PAD] was selected"
        assert torch.equal(masked[special], input_ids[special]), "a special token or [PAD] was changed"
        assert not torch.isin(masked[~special & (masked != IDS.mask)], torch.tensor([0, 1, 2, 3])).any(), \
            "a random replacement was a special token"


def test_labels_hold_the_original_tokens():
    input_ids = padded_batch()
    masked, labels = mask_tokens(input_ids, IDS, torch.Generator().manual_seed(0))
    selected = labels != IGNORE_INDEX
    assert torch.equal(labels[selected], input_ids[selected])
    assert torch.equal(masked[~selected], input_ids[~selected]), "an unselected token was changed"


def test_80_10_10_over_many_draws():
    input_ids = padded_batch(256, 64)
    n_mask = n_random = n_same = 0
    for seed in range(50):
        masked, labels = mask_tokens(input_ids, IDS, torch.Generator().manual_seed(seed))
        selected = labels != IGNORE_INDEX
        m, orig = masked[selected], input_ids[selected]
        n_mask += (m == IDS.mask).sum().item()
        n_same += (m == orig).sum().item()
        n_random += ((m != IDS.mask) & (m != orig)).sum().item()
    total = n_mask + n_random + n_same
    assert total > 50_000  # the standard error of a 10% share is then ~0.0013
    # a random replacement equals the original with probability 1/29995: negligible here
    assert abs(n_mask / total - 0.8) < 0.01
    assert abs(n_random / total - 0.1) < 0.01
    assert abs(n_same / total - 0.1) < 0.01


def test_masking_is_dynamic_and_reproducible():
    data = PretrainingData(synthetic_documents(200), IDS, seq_len=64, batch_size=16, seed=0)
    first, again = data.batch(3), data.batch(3)
    for key in first:
        assert torch.equal(first[key], again[key]), "a step's batch must be a pure function of (seed, step)"
    # the same sequences in the next epoch are masked differently
    epoch0 = [data.batch(s) for s in range(data.steps_per_epoch)]
    epoch1 = [data.batch(s + data.steps_per_epoch) for s in range(data.steps_per_epoch)]

    def masks_by_sequence(batches):
        out = {}
        for b in batches:
            for ids, labels in zip(b["input_ids"], b["labels"]):
                original = torch.where(labels == IGNORE_INDEX, ids, labels)
                out.setdefault(tuple(original.tolist()), []).append(tuple((labels != IGNORE_INDEX).tolist()))
        return out

    m0, m1 = masks_by_sequence(epoch0), masks_by_sequence(epoch1)
    common = set(m0) & set(m1)
    assert common, "expected some sequences to appear in both epochs"
    different = sum(m0[k][0] != m1[k][0] for k in common)
    assert different > 0.9 * len(common), "the same sequence got the same mask in the next epoch"


def test_other_seed_other_batches():
    docs = synthetic_documents(200)
    a = PretrainingData(docs, IDS, 64, 16, seed=0).batch(0)
    b = PretrainingData(docs, IDS, 64, 16, seed=1).batch(0)
    assert not torch.equal(a["input_ids"], b["input_ids"])


def test_collate_pads_and_masks_consistently():
    examples = [{"input_ids": [2, 10, 11, 3, 12, 3], "token_type_ids": [0, 0, 0, 0, 1, 1],
                 "next_sentence_label": 0},
                {"input_ids": [2, 10, 3, 12, 3], "token_type_ids": [0, 0, 0, 1, 1], "next_sentence_label": 1}]
    batch = collate_and_mask(examples, IDS, torch.Generator().manual_seed(0))
    assert batch["attention_mask"].tolist() == [[1] * 6, [1] * 5 + [0]]
    assert batch["input_ids"][1, 5].item() == IDS.pad and batch["labels"][1, 5].item() == IGNORE_INDEX
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]]
    assert batch["next_sentence_label"].tolist() == [0, 1]


def test_shards_partition_the_global_batch():
    data = PretrainingData(synthetic_documents(200), IDS, seq_len=64, batch_size=16, seed=0)
    full = data.batch(5)
    parts = [data.batch(5, rank, 4) for rank in range(4)]
    for key in full:
        assert torch.equal(torch.cat([p[key] for p in parts]), full[key])
    with pytest.raises(ValueError, match="multiple"):
        shard(full, 0, 3)


def test_too_small_corpus_names_the_fix():
    with pytest.raises(ValueError, match="batch-size"):
        PretrainingData(synthetic_documents(3), IDS, seq_len=64, batch_size=4096)
