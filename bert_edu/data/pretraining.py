"""The data side of BERT pretraining (notebook 07): next-sentence pairs, masked tokens, batches and evaluation.

Follows the original ``create_pretraining_data.py`` of the BERT repository:

1. **NSP pairs** (:func:`create_instances_from_document`). A document's sentences are gathered into a
   chunk until it reaches the target length; the chunk is cut at a random sentence boundary into
   segment A and the rest. Half of the time (a coin flip) segment B is that rest, the real
   continuation (*IsNext*); otherwise B is a span of a randomly chosen *other* document (*NotNext*) and
   the unused sentences go back to the document for the next pair. The pair is trimmed to fit
   ``[CLS] A [SEP] B [SEP]`` in ``seq_len`` tokens (:func:`truncate_seq_pair`). 10% of the time a
   shorter target length is used, so the model also sees short inputs, as at fine-tuning time.
   Two small changes keep the classes 50/50 (the original gives 58% NotNext on our corpus): a chunk
   of one long sentence also takes the next sentence, and a document's lone last sentence, which has no
   continuation, is skipped instead of being forced to NotNext. So every pair is a fair coin flip.
2. **MLM** (:func:`mask_tokens`). Exactly ``max(1, round(0.15 * n))`` of the ``n`` candidates (the
   non-special tokens) of each sequence are selected; of those, 80% become ``[MASK]``, 10% a random
   token and 10% stay unchanged, as in the original. Two deliberate differences from the original's
   ``create_masked_lm_predictions``: (a) it counts ``n`` as *all* the tokens, ``[CLS]`` and ``[SEP]``
   included, and caps the result at ``max_predictions_per_seq`` (20 for 128 tokens); we count the
   candidates only, so "15%" is 15% of what can be predicted (the same 19 at 128 tokens; in a 10-token
   pair the original selects 2 of the 7 candidates, we select 1), and need no cap; (b) its random token
   is any vocabulary entry, ``[CLS]``, ``[SEP]``, ``[PAD]`` and ``[MASK]`` included; ours is never a
   special token, so a replacement cannot fake a segment boundary. The model must predict the original
   token at every selected position (``labels``; -100 everywhere else). Masking is *dynamic*: we mask when a
   batch is built, so a sequence seen twice is masked differently each time (RoBERTa's improvement
   over the original, which masked once when writing the data).
3. **Batches** (:class:`PretrainingData`). Everything a step needs is a pure function of
   ``(seed, step)``: the NSP pairs of an epoch come from ``random.Random(seed, epoch)``, the order from a
   seeded permutation, the masks from a generator seeded with the step. That makes resuming exact
   (restart at step ``s`` and you get the very batch ``s`` you would have got) and lets each of several
   processes cut its own slice out of the same global batch.

Labels follow ``transformers``: ``next_sentence_label`` 0 = IsNext (B follows A), 1 = NotNext.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch

from bert_edu.data.batching import pad
from bert_edu.model.config import IGNORE_INDEX

IS_NEXT, NOT_NEXT = 0, 1


# ------------------------------------------------------------------------------------------------
# tokenizer-facing helpers (work with bert_edu.BertTokenizer and transformers' BertTokenizer(Fast))


@dataclass(frozen=True)
class SpecialIds:
    """The token ids the data pipeline needs, read once from a tokenizer."""

    cls: int
    sep: int
    pad: int
    mask: int
    vocab_size: int
    special: tuple[int, ...]  # never selected for masking, never used as a random replacement

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialIds":
        vocab_size = len(tokenizer.vocab) if hasattr(tokenizer, "vocab") else len(tokenizer)
        special = set(getattr(tokenizer, "all_special_ids", []))
        ids = dict(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id,
                   pad=tokenizer.pad_token_id, mask=tokenizer.mask_token_id)
        missing = [name for name, value in ids.items() if value is None]
        if missing:
            raise ValueError(f"the tokenizer has no id for {missing}; BERT pretraining needs a vocabulary "
                             "with [CLS], [SEP], [PAD] and [MASK]")
        special |= set(ids.values())
        return cls(vocab_size=vocab_size, special=tuple(sorted(special)), **ids)


def tokenize_documents(documents: Sequence[Sequence[str]], tokenizer) -> list[list[list[int]]]:
    """Documents of sentences -> documents of token-id lists (no special tokens). Empty sentences and
    documents with fewer than one sentence are dropped."""
    sentences = [s for doc in documents for s in doc]
    try:  # a fast batched call where the tokenizer has one
        ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
    except (TypeError, KeyError, AttributeError):
        ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(s)) for s in sentences]
    out, k = [], 0
    for doc in documents:
        sents = [ids[k + i] for i in range(len(doc)) if ids[k + i]]
        k += len(doc)
        if sents:
            out.append(sents)
    return out


def split_documents(documents: list, eval_fraction: float, seed: int) -> tuple[list, list]:
    """Hold out whole documents for evaluation, so no held-out sentence was ever seen in training."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(eval_fraction * len(documents))) if eval_fraction > 0 else 0
    held = set(order[:n_eval])
    train = [d for i, d in enumerate(documents) if i not in held]
    held_out = [d for i, d in enumerate(documents) if i in held]
    return train, held_out


# ------------------------------------------------------------------------------------------------
# 1. NSP pairs, packed to the sequence length


@dataclass
class Instance:
    tokens_a: list[int]
    tokens_b: list[int]
    is_random_next: bool  # True = NotNext


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: random.Random) -> None:
    """Trim the pair in place to ``max_num_tokens`` in total: always from the longer segment, from its
    front or back at random (so the model does not learn that text always ends at a sentence end)."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def create_instances_from_document(documents: list[list[list[int]]], doc_index: int, seq_len: int,
                                   rng: random.Random, short_seq_prob: float = 0.1) -> list[Instance]:
    """All NSP pairs from one document, as in the original ``create_instances_from_document``."""
    document = documents[doc_index]
    max_num_tokens = seq_len - 3  # room for [CLS], [SEP], [SEP]
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances, chunk, chunk_len, i = [], [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        chunk_len += len(document[i])
        if i == len(document) - 1 or chunk_len >= target_seq_length:
            if len(chunk) == 1 and i + 1 < len(document):
                # one long sentence filled the chunk: take the next one too, so B can be its continuation
                i += 1
                chunk.append(document[i])
            if len(chunk) == 1:
                # the document's last sentence, alone: it has no continuation. The original made it
                # NotNext, which tilts the classes (58% NotNext on our corpus); we skip it.
                break
            a_end = rng.randint(1, len(chunk) - 1)
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            tokens_b: list[int] = []
            is_random_next = rng.random() < 0.5
            if is_random_next:
                # NotNext: B is a span of another document, starting at a random sentence
                target_b_length = target_seq_length - len(tokens_a)
                random_index = doc_index
                while random_index == doc_index:
                    random_index = rng.randrange(len(documents))
                other = documents[random_index]
                for sentence in other[rng.randrange(len(other)):]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target_b_length:
                        break
                i -= len(chunk) - a_end  # put the unused sentences back: they start the next chunk
            else:
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
            truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            if tokens_a and tokens_b:
                instances.append(Instance(tokens_a, tokens_b, is_random_next))
            chunk, chunk_len = [], 0
        i += 1
    return instances


def create_instances(documents: list[list[list[int]]], seq_len: int, rng: random.Random,
                     short_seq_prob: float = 0.1) -> list[Instance]:
    """NSP pairs from every document (need at least two documents for NotNext), shuffled."""
    if len(documents) < 2:
        raise ValueError("NSP needs at least two documents (NotNext takes B from another document); "
                         "separate documents with a blank line in the corpus file")
    if seq_len < 8:
        raise ValueError(f"seq_len={seq_len} is too short for [CLS] A [SEP] B [SEP]; use at least 8")
    instances = []
    for doc_index in range(len(documents)):
        instances += create_instances_from_document(documents, doc_index, seq_len, rng, short_seq_prob)
    rng.shuffle(instances)
    return instances


def encode_instance(inst: Instance, ids: SpecialIds) -> tuple[list[int], list[int]]:
    """``[CLS] A [SEP] B [SEP]`` and the matching segment ids (0 for A and its [SEP], 1 for B)."""
    input_ids = [ids.cls, *inst.tokens_a, ids.sep, *inst.tokens_b, ids.sep]
    token_type_ids = [0] * (len(inst.tokens_a) + 2) + [1] * (len(inst.tokens_b) + 1)
    return input_ids, token_type_ids


class PretrainingDataset(torch.utils.data.Dataset):
    """Encoded NSP pairs (unmasked): item i -> dict(input_ids, token_type_ids, next_sentence_label)."""

    def __init__(self, instances: list[Instance], ids: SpecialIds):
        self.instances, self.ids = instances, ids

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, i: int) -> dict:
        inst = self.instances[i]
        input_ids, token_type_ids = encode_instance(inst, self.ids)
        return {"input_ids": input_ids, "token_type_ids": token_type_ids,
                "next_sentence_label": NOT_NEXT if inst.is_random_next else IS_NEXT}


def collate_and_mask(examples: list[dict], ids: SpecialIds, generator: torch.Generator | None = None,
                     mlm_probability: float = 0.15) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence of the batch, then mask (dynamic masking: a fresh draw per call)."""
    input_ids, attention_mask = pad([e["input_ids"] for e in examples], ids.pad)
    token_type_ids, _ = pad([e["token_type_ids"] for e in examples], 0)
    masked, labels = mask_tokens(input_ids, ids, generator, mlm_probability)
    return {"input_ids": masked, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
            "labels": labels,
            "next_sentence_label": torch.tensor([e["next_sentence_label"] for e in examples])}


# ------------------------------------------------------------------------------------------------
# 2. masked language modelling


def candidate_mask(input_ids: torch.Tensor, special_ids: Sequence[int]) -> torch.Tensor:
    """True where a token may be selected for prediction: everything but [CLS], [SEP], [PAD], ..."""
    return ~torch.isin(input_ids, torch.tensor(list(special_ids), device=input_ids.device))


def select_positions(candidates: torch.Tensor, mlm_probability: float = 0.15,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose exactly ``max(1, round(mlm_probability * n))`` of the ``n`` candidate positions of each row
    (none if a row has no candidate), uniformly at random. ``round`` is round-half-to-even, as Python 3's
    ``round`` in the original code (20 candidates -> 3, 10 -> 2, 30 -> 4 since 4.5 rounds to 4; under
    Python 2, which that code also ran on, 4.5 rounded to 5). ``n`` counts candidates, not all tokens: see
    the module docstring for how this differs from the original, and why."""
    n_candidates = candidates.sum(dim=1)
    n_select = torch.round(n_candidates.double() * mlm_probability).long().clamp(min=1)
    n_select = torch.minimum(n_select, n_candidates)
    # random scores; non-candidates get 2.0 so they sort last; take the n_select smallest per row
    scores = torch.rand(candidates.shape, generator=generator, device=candidates.device)
    scores = scores.masked_fill(~candidates, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)  # rank[i, j] = position of token j in row i's order
    return rank < n_select[:, None]


def apply_mask_rule(input_ids: torch.Tensor, selected: torch.Tensor, u: torch.Tensor,
                    random_tokens: torch.Tensor, mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 80/10/10 rule, with the randomness passed in. Returns ``(masked_input_ids, labels)``.

    At a selected position: ``u < 0.8`` -> ``[MASK]``; ``0.8 <= u < 0.9`` -> ``random_tokens``; else the
    token stays. ``labels`` is the *original* token at every selected position (also the unchanged
    ones: the model must predict them too) and -100 everywhere else.
    """
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    masked = torch.where(selected & (u < 0.8), torch.full_like(input_ids, mask_id), input_ids)
    masked = torch.where(selected & (u >= 0.8) & (u < 0.9), random_tokens, masked)
    return masked, labels


def mask_tokens(input_ids: torch.Tensor, ids: SpecialIds, generator: torch.Generator | None = None,
                mlm_probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking. Returns ``(masked_input_ids, labels)``.

    ``labels`` holds the original token at the selected positions and -100 elsewhere. Of the selected
    positions 80% become [MASK], 10% a random (non-special) token, 10% keep their token: the model can
    never be sure an unmasked token is right, so it must build a good representation of every token,
    while [MASK] (which never occurs at fine-tuning time) is seen less than it would be otherwise.
    """
    selected = select_positions(candidate_mask(input_ids, ids.special), mlm_probability, generator)
    u = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    allowed = torch.ones(ids.vocab_size, dtype=torch.bool)
    allowed[list(ids.special)] = False
    pool = allowed.nonzero().squeeze(1).to(input_ids.device)  # ids a random replacement may take
    random_tokens = pool[torch.randint(len(pool), input_ids.shape, generator=generator,
                                       device=input_ids.device)]
    return apply_mask_rule(input_ids, selected, u, random_tokens, ids.mask)


# ------------------------------------------------------------------------------------------------
# 3. deterministic batches for a training run


def _seeded(*parts: int) -> int:
    """One 63-bit seed from several integers (seed, epoch, step ...), the same on every machine."""
    h = 0
    for p in parts:
        h = (h * 1_000_003 + int(p) + 0x9E3779B9) % (2**63 - 1)
    return h


class PretrainingData:
    """Global batches as a pure function of ``(seed, step)``.

    ``batch(step)`` -> dict of tensors for the whole batch; ``batch(step, rank, world_size)`` -> this
    process's rows of it. Each epoch draws new NSP pairs (another random cut, another NotNext partner)
    and a new order; every call masks afresh with a generator seeded by the step.
    """

    def __init__(self, documents: list[list[list[int]]], ids: SpecialIds, seq_len: int,
                 batch_size: int, seed: int = 0, short_seq_prob: float = 0.1, mlm_probability: float = 0.15):
        self.documents, self.ids, self.seq_len = documents, ids, seq_len
        self.batch_size, self.seed = batch_size, seed
        self.short_seq_prob, self.mlm_probability = short_seq_prob, mlm_probability
        self._cache = None  # (epoch, dataset, order): one epoch's pairs and their permutation, built once
        n = len(self.dataset(0))
        if n < batch_size:
            raise ValueError(f"the corpus gives only {n} sequences, fewer than one batch of {batch_size}; "
                             "use a smaller --batch-size or a larger corpus")
        self.steps_per_epoch = n // batch_size  # drop the last partial batch: every step is a full batch
        self.max_predictions = max_predictions_per_seq(seq_len, mlm_probability)

    def _epoch(self, epoch: int) -> tuple[PretrainingDataset, list[int]]:
        cache = self._cache  # one read: another thread (the prefetcher) may swap it
        if cache is None or cache[0] != epoch:
            rng = random.Random(_seeded(self.seed, epoch))
            dataset = PretrainingDataset(create_instances(self.documents, self.seq_len, rng, self.short_seq_prob),
                                         self.ids)
            # the epoch's order, drawn once per epoch (not at every step), as a list of Python ints
            order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(
                _seeded(self.seed, epoch))).tolist()
            cache = self._cache = (epoch, dataset, order)
        return cache[1], cache[2]

    def dataset(self, epoch: int) -> PretrainingDataset:
        return self._epoch(epoch)[0]

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> dict[str, torch.Tensor]:
        epoch, k = divmod(step, self.steps_per_epoch)
        dataset, order = self._epoch(epoch)
        # each epoch draws its own pairs, so its size varies a little around epoch 0's, which fixed
        # steps_per_epoch: a larger epoch leaves a few pairs out, a smaller one repeats a few (wrap around)
        rows = [order[i % len(order)] for i in range(k * self.batch_size, (k + 1) * self.batch_size)]
        generator = torch.Generator().manual_seed(_seeded(self.seed, 1, step))
        full = collate_and_mask([dataset[i] for i in rows], self.ids, generator, self.mlm_probability)
        return shard(full, rank, world_size)

    def train_batch(self, step: int) -> tuple[dict[str, torch.Tensor], dict]:
        """What the package's training step needs: ``(batch, counts)``. ``batch`` is :meth:`batch` (the same
        masks) plus a fixed number of prediction slots per sequence (:func:`add_masked_positions`, static
        shapes); ``counts`` are Python numbers decided here, on the host, so the step never asks the GPU:
        ``n_predictions``, ``n_sequences``, ``tokens`` and ``padded`` (False: every row is full, the
        model may skip the attention mask)."""
        batch = self.batch(step)
        batch.update(add_masked_positions(batch["labels"], self.max_predictions))
        mask = batch["attention_mask"]
        counts = {"n_predictions": int(batch["masked_lm_weights"].sum()), "n_sequences": len(mask),
                  "tokens": int(mask.sum()), "padded": not bool(mask.all())}
        return batch, counts


def max_predictions_per_seq(seq_len: int, mlm_probability: float = 0.15) -> int:
    """The most positions :func:`select_positions` can choose in a row of ``seq_len`` tokens (at most
    ``seq_len - 3`` candidates): the original BERT's ``max_predictions_per_seq`` (19 at 128 tokens, 9 at 64)."""
    return max(1, round((seq_len - 3) * mlm_probability))


def add_masked_positions(labels: torch.Tensor, max_predictions: int) -> dict[str, torch.Tensor]:
    """The selected positions of each row as ``max_predictions`` slots, as the original BERT's data:
    ``masked_lm_positions`` (batch, P) in increasing order, ``masked_lm_ids`` (the original tokens, -100 in
    unused slots) and ``masked_lm_weights`` (1.0 used, 0.0 unused). Row by row, the used slots are
    ``labels[labels != -100]`` in the same order; the model gathers these rows with a fixed shape (no
    boolean indexing, so no host sync and no recompilation)."""
    selected = labels != IGNORE_INDEX
    most = int(selected.sum(dim=1).max()) if len(labels) else 0
    if most > max_predictions:
        raise ValueError(f"a row has {most} selected positions, more than max_predictions={max_predictions}")
    slots = min(max_predictions, labels.shape[1])
    # selected positions first, each group in position order (a stable sort of "not selected")
    positions = torch.sort((~selected).to(torch.uint8), dim=1, stable=True).indices[:, :slots]
    used = selected.gather(1, positions)
    return {"masked_lm_positions": positions.masked_fill(~used, 0),
            "masked_lm_ids": labels.gather(1, positions).masked_fill(~used, IGNORE_INDEX),
            "masked_lm_weights": used.float()}


def shard(batch: dict[str, torch.Tensor], index: int, count: int) -> dict[str, torch.Tensor]:
    """Rows ``[index * n/count, (index+1) * n/count)`` of every tensor: one process's (or micro-batch's)
    share of a global batch."""
    n = len(batch["input_ids"])
    if n % count:
        raise ValueError(f"a batch of {n} sequences does not split into {count} equal parts; "
                         "make --batch-size a multiple of (number of processes x --grad-accum)")
    size = n // count
    return {k: v[index * size:(index + 1) * size] for k, v in batch.items()}


def eval_batches(documents: list[list[list[int]]], ids: SpecialIds, seq_len: int, batch_size: int,
                 seed: int = 0, max_sequences: int = 512, short_seq_prob: float = 0.1) -> list[dict]:
    """Fixed held-out batches: pairs and masks drawn once, so every evaluation sees the same inputs.

    A small held-out set gives few pairs per pass (77 documents -> ~400 pairs of 64 tokens), and an
    accuracy measured on 400 pairs is only good to +-5 points (95%). So, like training epochs, further
    passes over the same documents draw other cuts and other NotNext partners, up to ``max_sequences``
    (at most 8 passes)."""
    rng = random.Random(_seeded(seed, 7))
    instances: list[Instance] = []
    for _ in range(8):
        instances += create_instances(documents, seq_len, rng, short_seq_prob)
        if len(instances) >= max_sequences:
            break
    instances = instances[:max_sequences]
    dataset = PretrainingDataset(instances, ids)
    generator = torch.Generator().manual_seed(_seeded(seed, 11))
    return [collate_and_mask([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))], ids, generator)
            for s in range(0, len(dataset), batch_size)]


# ------------------------------------------------------------------------------------------------
# evaluation


def token_counts(documents: list[list[list[int]]]) -> Counter:
    """How often each token id occurs in (tokenised) documents."""
    return Counter(t for doc in documents for sentence in doc for t in sentence)
