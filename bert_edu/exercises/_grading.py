"""Grading data for `bert-edu grade` (bert_edu/course/grade.py): the one points table, and the extra cases that
the grader runs after each checker with the teacher's seed (cases the notebook never shows).

**Points.** ``POINTS`` maps a checker's name to the points its exercise is worth; an exercise whose checker is not
listed is worth ``DEFAULT_POINTS``. Which exercises exist is read from the notebooks (a cell that calls
``check_<name>(fn)`` on a function or class written in a solution region), so a new exercise is graded as soon as
its notebook has it; add a row here only to give it other points. ``docs/teaching.md`` documents the table.
Written answers (markdown regions) are not auto-graded: docs/teaching.md has their rubrics.

**Extra cases.** ``@extra_cases("check_<name>")`` (from ``_harness``) registers ``make(ck, fn, rng)``; each draws
its inputs from ``rng`` (the teacher's ``--seed``) and compares the learner's function with the reference. A
checker module may register its own next to its checker; the ones below cover notebooks 01-08 and 10-12.
"""

from __future__ import annotations

import math

import torch

from bert_edu.exercises._harness import extra_cases
from bert_edu.exercises._modules import pair, tiny_config

DEFAULT_POINTS = 1

# checker -> points. Implementation exercises that build a module or a core algorithm: 2-3; predictions and
# small functions: 1.
POINTS: dict[str, int] = {
    # 01 tokenization
    "check_wordpiece": 3, "check_best_pair": 2, "check_strip_accents": 1, "check_truncate_longest_first": 2,
    "check_predict_lengths": 1,
    # 02 embeddings
    "check_bert_embeddings": 3, "check_layer_norm": 2, "check_embedding_parameters": 1,
    # 03 attention
    "check_attention": 3, "check_split_heads": 1, "check_merge_heads": 1, "check_bert_self_attention": 3,
    "check_bert_self_output": 2, "check_bert_attention": 1, "check_causal_mask": 2, "check_attention_memory": 1,
    # 04 encoder
    "check_bert_intermediate": 1, "check_bert_output": 1, "check_bert_layer": 2, "check_bert_encoder": 2,
    "check_gelu": 1, "check_pre_ln_sublayer": 2, "check_layer_parameters": 1,
    # 05 the model
    "check_bert_pooler": 1, "check_bert_model": 3, "check_mean_pooling": 2, "check_parameter_count": 1,
    # 06 attention maps
    "check_previous_token_head": 2, "check_head_entropy": 2, "check_mask_head": 2,
    # 07 pretraining
    "check_mlm_head": 3, "check_masked_lm_loss": 2, "check_nsp_pair": 2, "check_mask_rule": 2,
    "check_whole_word_select": 2, "check_initial_losses": 1, "check_train_step": 4,
    # 08 fine-tuning
    "check_dynamic_padding": 2, "check_classification_head": 2, "check_parameter_groups": 2, "check_lr_factor": 2,
    "check_initial_loss": 1, "check_fine_tune": 4,
    # 10-12
    "check_align_labels": 3, "check_best_span": 3, "check_integrated_gradients": 3, "check_distillation_loss": 2,
}


def points(check_name: str) -> int:
    """The points of the exercise checked by ``check_name`` (``DEFAULT_POINTS`` when it is not in the table)."""
    return POINTS.get(check_name, DEFAULT_POINTS)


def _generator(rng) -> torch.Generator:
    return torch.Generator().manual_seed(rng.getrandbits(63))


def _random_config(rng, **overrides):
    heads = rng.choice([1, 2, 3, 4])
    hidden = heads * rng.choice([2, 4, 6])
    fields = dict(vocab_size=rng.randint(20, 60), hidden_size=hidden, num_attention_heads=heads,
                  intermediate_size=hidden * rng.choice([2, 3, 4]), max_position_embeddings=rng.randint(8, 16),
                  num_hidden_layers=rng.randint(1, 3))
    fields.update(overrides)
    return tiny_config(**fields)


# --------------------------------------------------------------------------- 02 embeddings

@extra_cases("check_layer_norm")
def _layer_norm(ck, fn, rng):
    from bert_edu.exercises.embeddings import reference_layer_norm

    g = _generator(rng)
    for i in range(3):
        shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 2))) + (rng.randint(2, 24),)
        eps = rng.choice([1e-12, 1e-5, 0.1])
        x = torch.randn(shape, generator=g) * rng.uniform(0.01, 5) + rng.uniform(-3, 3)
        gamma, beta = torch.rand(shape[-1], generator=g) + 0.5, torch.randn(shape[-1], generator=g)
        with ck.case(f"extra case {i + 1}: shape {shape}, eps={eps}") as case:
            case.expect_close(fn(x, gamma, beta, eps), reference_layer_norm(x, gamma, beta, eps))


@extra_cases("check_embedding_parameters")
def _embedding_parameters(ck, fn, rng):
    from bert_edu.exercises.embeddings import reference_embedding_parameters

    for i in range(3):
        sizes = (rng.randint(100, 50000), rng.choice([64, 96, 128, 256, 512, 1024]),
                 rng.choice([64, 128, 512, 1024]), rng.randint(1, 4))
        with ck.case(f"extra case {i + 1}: sizes {sizes}") as case:
            case.expect_equal(fn(*sizes), reference_embedding_parameters(*sizes), what="parameter count")


def _module_cases(ck, cls, reference_cls, rng, run, *, n=2):
    """Learner's module vs the reference, same random weights, on a random config and random inputs."""
    for i in range(n):
        config = _random_config(rng)
        seed = rng.getrandbits(31)
        batch, t = rng.randint(1, 3), rng.randint(2, config.max_position_embeddings)
        with ck.case(f"extra case {i + 1}: hidden {config.hidden_size}, {config.num_attention_heads} heads, "
                     f"batch {batch}, T={t}") as case:
            module, reference = pair(cls, reference_cls, config, seed=seed)
            inputs = run(config, batch, t, _generator(rng))
            with torch.no_grad():
                got, expected = module(*inputs), reference(*inputs)
            got = got[0] if isinstance(got, (tuple, list)) else got
            expected = expected[0] if isinstance(expected, (tuple, list)) else expected
            case.expect_close(got, expected, atol=1e-4)


def _ids_and_types(config, batch, t, g):
    ids = torch.randint(1, config.vocab_size, (batch, t), generator=g)
    return ids, torch.randint(0, config.type_vocab_size, (batch, t), generator=g)


@extra_cases("check_bert_embeddings")
def _bert_embeddings(ck, cls, rng):
    from bert_edu.model.embeddings import BertEmbeddings

    _module_cases(ck, cls, BertEmbeddings, rng, _ids_and_types)


# --------------------------------------------------------------------------- 03 attention

def _padding_mask(batch, t, g):
    lengths = torch.randint(1, t + 1, (batch,), generator=g)
    return (torch.arange(t)[None, :] < lengths[:, None]).long()


@extra_cases("check_attention")
def _attention(ck, fn, rng):
    from bert_edu.exercises.attention import reference_attention

    g = _generator(rng)
    for i in range(3):
        b, h, t, d = rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 9), rng.choice([2, 4, 8, 16, 32])
        q, k, v = (torch.randn(b, h, t, d, generator=g) * rng.uniform(0.5, 3) for _ in range(3))
        mask = _padding_mask(b, t, g)[:, None, None, :] if i else None
        with ck.case(f"extra case {i + 1}: (batch {b}, {h} heads, T={t}, d_k={d}), "
                     f"{'padded' if i else 'no mask'}") as case:
            got = fn(q, k, v, mask)
            case.expect(isinstance(got, tuple) and len(got) == 2, "return a tuple (output, weights)")
            ref_out, ref_w = reference_attention(q, k, v, mask)
            case.expect_close(got[1], ref_w, what="weights")
            case.expect_close(got[0], ref_out, what="output")


@extra_cases("check_split_heads")
def _split_heads(ck, fn, rng):
    from bert_edu.model.attention import split_heads

    g = _generator(rng)
    for i in range(2):
        heads, d = rng.randint(1, 6), rng.randint(1, 8)
        x = torch.randn(rng.randint(1, 3), rng.randint(1, 7), heads * d, generator=g)
        with ck.case(f"extra case {i + 1}: {tuple(x.shape)} into {heads} heads") as case:
            case.expect_close(fn(x, heads), split_heads(x, heads))


@extra_cases("check_merge_heads")
def _merge_heads(ck, fn, rng):
    from bert_edu.model.attention import merge_heads

    g = _generator(rng)
    for i in range(2):
        x = torch.randn(rng.randint(1, 3), rng.randint(1, 6), rng.randint(1, 7), rng.randint(1, 8), generator=g)
        with ck.case(f"extra case {i + 1}: {tuple(x.shape)}") as case:
            case.expect_close(fn(x), merge_heads(x))


@extra_cases("check_causal_mask")
def _causal_mask(ck, fn, rng):
    from bert_edu.exercises.attention import reference_causal_attention_mask

    g = _generator(rng)
    for i in range(2):
        mask = _padding_mask(rng.randint(1, 4), rng.randint(1, 9), g)
        with ck.case(f"extra case {i + 1}: padding mask {tuple(mask.shape)}") as case:
            got = fn(mask)
            case.expect(isinstance(got, torch.Tensor), "return a torch.Tensor")
            case.expect_equal(got.bool(), reference_causal_attention_mask(mask), what="mask")


@extra_cases("check_attention_memory")
def _attention_memory(ck, fn, rng):
    for i in range(3):
        b, h, t, n = rng.randint(1, 64), rng.choice([1, 4, 8, 12, 16]), rng.choice([64, 128, 256, 384]), \
            rng.choice([2, 4, 8])
        with ck.case(f"extra case {i + 1}: batch {b}, {h} heads, T={t}, {n} bytes") as case:
            case.expect_equal(fn(b, h, t, n), b * h * t * t * n, what="bytes")


def _hidden_and_mask(config, batch, t, g):
    hidden = torch.randn(batch, t, config.hidden_size, generator=g)
    return hidden, _padding_mask(batch, t, g)[:, None, None, :].bool()


@extra_cases("check_bert_self_attention")
def _bert_self_attention(ck, cls, rng):
    from bert_edu.model.attention import BertSelfAttention

    _module_cases(ck, cls, BertSelfAttention, rng, _hidden_and_mask)


@extra_cases("check_bert_attention")
def _bert_attention(ck, cls, rng):
    from bert_edu.model.attention import BertAttention

    _module_cases(ck, cls, BertAttention, rng, _hidden_and_mask)


@extra_cases("check_bert_self_output")
def _bert_self_output(ck, cls, rng):
    from bert_edu.model.attention import BertSelfOutput

    def run(config, batch, t, g):
        return (torch.randn(batch, t, config.hidden_size, generator=g),
                torch.randn(batch, t, config.hidden_size, generator=g))

    _module_cases(ck, cls, BertSelfOutput, rng, run)


# --------------------------------------------------------------------------- 04 encoder

@extra_cases("check_gelu")
def _gelu(ck, fn, rng):
    from bert_edu.model.activations import gelu

    g = _generator(rng)
    x = torch.randn(rng.randint(1, 4), rng.randint(1, 9), generator=g) * rng.uniform(1, 6)
    with ck.case(f"extra case: {tuple(x.shape)}") as case:
        case.expect_close(fn(x), gelu(x), atol=1e-6)


@extra_cases("check_layer_parameters")
def _layer_parameters(ck, fn, rng):
    from bert_edu.exercises.encoder import reference_layer_parameters

    for i in range(2):
        h = rng.choice([64, 128, 256, 312, 512, 1024])
        i_size = h * rng.choice([2, 4])
        with ck.case(f"extra case {i + 1}: hidden {h}, intermediate {i_size}") as case:
            case.expect_equal(fn(h, i_size), reference_layer_parameters(h, i_size), what="parameter count")


@extra_cases("check_pre_ln_sublayer")
def _pre_ln_sublayer(ck, fn, rng):
    from bert_edu.exercises.encoder import reference_pre_ln_sublayer

    g = _generator(rng)
    width = rng.randint(2, 12)
    x = torch.randn(rng.randint(1, 3), rng.randint(1, 6), width, generator=g) * 2
    gamma, beta = torch.rand(width, generator=g) + 0.5, torch.randn(width, generator=g)
    weight = torch.randn(width, width, generator=g)

    def sublayer(z):
        return torch.tanh(z @ weight)

    with ck.case(f"extra case: {tuple(x.shape)}") as case:
        case.expect_close(fn(x, sublayer, gamma, beta, 1e-5), reference_pre_ln_sublayer(x, sublayer, gamma, beta, 1e-5))


def _hidden_only(config, batch, t, g):
    return (torch.randn(batch, t, config.hidden_size, generator=g),)


@extra_cases("check_bert_intermediate")
def _bert_intermediate(ck, cls, rng):
    from bert_edu.model.encoder import BertIntermediate

    _module_cases(ck, cls, BertIntermediate, rng, _hidden_only)


@extra_cases("check_bert_output")
def _bert_output(ck, cls, rng):
    from bert_edu.model.encoder import BertOutput

    def run(config, batch, t, g):
        return (torch.randn(batch, t, config.intermediate_size, generator=g),
                torch.randn(batch, t, config.hidden_size, generator=g))

    _module_cases(ck, cls, BertOutput, rng, run)


@extra_cases("check_bert_layer")
def _bert_layer(ck, cls, rng):
    from bert_edu.model.encoder import BertLayer

    _module_cases(ck, cls, BertLayer, rng, _hidden_and_mask)


@extra_cases("check_bert_encoder")
def _bert_encoder(ck, cls, rng):
    from bert_edu.model.encoder import BertEncoder

    _module_cases(ck, cls, BertEncoder, rng, _hidden_and_mask)


# --------------------------------------------------------------------------- 05 the model

@extra_cases("check_mean_pooling")
def _mean_pooling(ck, fn, rng):
    g = _generator(rng)
    b, t = rng.randint(1, 4), rng.randint(1, 8)
    h, mask = torch.randn(b, t, rng.randint(2, 8), generator=g), _padding_mask(b, t, g)
    m = mask[..., None].float()
    with ck.case(f"extra case: batch {b}, T={t}") as case:
        case.expect_close(fn(h, mask), (h * m).sum(1) / m.sum(1))


# --------------------------------------------------------------------------- 06 attention maps

@extra_cases("check_head_entropy")
def _head_entropy(ck, fn, rng):
    from bert_edu.exercises.attention_maps import reference_head_entropy

    g = _generator(rng)
    t = rng.randint(2, 7)
    attn = (torch.randn(rng.randint(1, 3), rng.randint(1, 4), t, t, generator=g) * 2).softmax(-1)
    with ck.case(f"extra case: attention {tuple(attn.shape)}") as case:
        case.expect_close(fn(attn), reference_head_entropy(attn))


@extra_cases("check_mask_head")
def _mask_head(ck, fn, rng):
    from bert_edu.exercises.attention_maps import reference_mask_head

    g = _generator(rng)
    heads, width = rng.randint(1, 6), rng.randint(1, 5)
    head = rng.randrange(heads)
    context = torch.randn(rng.randint(1, 3), rng.randint(1, 5), heads * width, generator=g)
    with ck.case(f"extra case: {heads} heads of width {width}, head {head}") as case:
        case.expect_close(fn(context.clone(), head, heads), reference_mask_head(context, head, heads))

@extra_cases("check_parameter_count")
def _parameter_count(ck, fn, rng):
    from bert_edu.exercises.model import reference_parameter_count

    config = _random_config(rng, vocab_size=rng.randint(1000, 40000))
    with ck.case(f"extra case: hidden {config.hidden_size}, {config.num_hidden_layers} layers") as case:
        case.expect_equal(fn(config), reference_parameter_count(config), what="parameter count")


# --------------------------------------------------------------------------- 07 pretraining

@extra_cases("check_initial_losses")
def _initial_losses(ck, fn, rng):
    from bert_edu.exercises.pretraining import reference_initial_losses

    vocab = rng.randint(50, 60000)
    with ck.case(f"extra case: vocabulary of {vocab:,}") as case:
        got = fn(vocab)
        case.expect(isinstance(got, (tuple, list)) and len(got) == 2, "return a pair (mlm_loss, nsp_loss)")
        case.expect_close(torch.tensor([float(x) for x in got]), torch.tensor(reference_initial_losses(vocab)),
                          atol=1e-3, what="(mlm_loss, nsp_loss)")


@extra_cases("check_mask_rule")
def _mask_rule(ck, fn, rng):
    from bert_edu.exercises.pretraining import reference_mask_rule

    g = _generator(rng)
    shape = (rng.randint(1, 4), rng.randint(4, 16))
    input_ids = torch.randint(5, 100, shape, generator=g)
    selected = torch.rand(shape, generator=g) < 0.4
    u = torch.rand(shape, generator=g)
    random_tokens = torch.randint(5, 100, shape, generator=g)
    with ck.case(f"extra case: {shape} ids") as case:
        got = fn(input_ids.clone(), selected.clone(), u.clone(), random_tokens.clone(), 4)
        case.expect(isinstance(got, (tuple, list)) and len(got) == 2, "return (masked_input_ids, labels)")
        expected = reference_mask_rule(input_ids.clone(), selected.clone(), u.clone(), random_tokens.clone(), 4)
        case.expect_equal(got[0], expected[0], what="masked_input_ids")
        case.expect_equal(got[1], expected[1], what="labels")


@extra_cases("check_masked_lm_loss")
def _masked_lm_loss(ck, fn, rng):
    from bert_edu.exercises.pretraining import ReferenceMLMHead, _head_config, reference_masked_lm_loss
    from bert_edu.model.config import IGNORE_INDEX

    g = _generator(rng)
    config = _head_config()
    head = ReferenceMLMHead(config, torch.nn.Parameter(torch.randn(config.vocab_size, config.hidden_size,
                                                                   generator=g)))
    shape = (rng.randint(1, 4), rng.randint(3, 10))
    hidden = torch.randn(*shape, config.hidden_size, generator=g)
    labels = torch.randint(0, config.vocab_size, shape, generator=g)
    keep = torch.rand(shape, generator=g) < 0.4
    keep.view(-1)[0] = True  # at least one selected position
    labels[~keep] = IGNORE_INDEX
    with ck.case(f"extra case: {shape}, {int(keep.sum())} selected positions") as case:
        got = fn(hidden, labels.clone(), head)
        case.expect(torch.is_tensor(got) and got.dim() == 0, "return a scalar tensor (the mean loss)")
        case.expect_close(got, reference_masked_lm_loss(hidden, labels, head), atol=1e-5, what="loss")


# --------------------------------------------------------------------------- 08 fine-tuning

@extra_cases("check_initial_loss")
def _initial_loss(ck, fn, rng):
    labels = rng.randint(2, 50)
    with ck.case(f"extra case: {labels} labels") as case:
        case.expect_close(torch.tensor(float(fn(labels))), torch.tensor(math.log(labels)), atol=1e-3, what="loss")


@extra_cases("check_lr_factor")
def _lr_factor(ck, fn, rng):
    from bert_edu.exercises.finetune import reference_lr_factor

    total = rng.randint(20, 500)
    warmup = rng.randint(1, total // 2)
    steps = sorted({rng.randint(0, total) for _ in range(6)} | {0, warmup, total})
    with ck.case(f"extra case: {warmup} warmup steps of {total}") as case:
        got = torch.tensor([float(fn(s, warmup, total)) for s in steps])
        case.expect_close(got, torch.tensor([float(reference_lr_factor(s, warmup, total)) for s in steps]),
                          atol=1e-6, what="factors")
