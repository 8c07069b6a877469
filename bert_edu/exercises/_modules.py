"""What the module checkers of notebooks 02-05 share: build the learner's ``nn.Module`` class and the package's
reference on one tiny config, give both the same (random, non-trivial) weights, and compare what they compute.

Giving the learner's module the reference's ``state_dict`` with ``load_state_dict`` is itself the first check:
it only works when the attribute names and shapes are those of ``transformers`` (``word_embeddings``,
``attention.self.query``, ``LayerNorm``, ...), which is what lets MiniLM's checkpoint load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

from bert_edu.exercises._harness import CaseFailed
from bert_edu.model.config import BertConfig


def tiny_config(**overrides) -> BertConfig:
    """A BERT small enough to check in milliseconds; dropout off unless a case turns it on."""
    fields = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
                  max_position_embeddings=12, type_vocab_size=2, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0, initializer_range=0.2, pad_token_id=0)
    fields.update(overrides)
    return BertConfig(**fields)


def build(cls, config: BertConfig, seed: int = 0) -> nn.Module:
    """``cls(config)`` in eval mode; a clear message when ``cls`` does not build an nn.Module."""
    if not callable(cls):
        raise CaseFailed(f"pass your class itself (e.g. check_bert_embeddings(BertEmbeddings)), not {cls!r}")
    torch.manual_seed(seed)
    module = cls(config)  # NotImplementedError here means "not started yet" (the Checker says so)
    if not isinstance(module, nn.Module):
        raise CaseFailed(f"pass your class itself, a subclass of nn.Module; calling it gave {type(module).__name__}")
    if not list(module.parameters()):
        raise CaseFailed("your module has no parameters: assign the layers to attributes of self in __init__")
    return module.eval()


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random (LayerNorm's gamma too), so that a missing piece changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def same_weights(module: nn.Module, reference: nn.Module) -> None:
    """Load the reference's weights into the learner's module: names and shapes must be transformers'."""
    ours, theirs = module.state_dict(), reference.state_dict()
    missing = [k for k in theirs if k not in ours]
    unexpected = [k for k in ours if k not in theirs]
    if missing or unexpected:
        raise CaseFailed(
            "the parameter names differ from transformers' (so a checkpoint would not load): "
            f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}, "
            f"unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}. "
            "Use the attribute names given in the notebook (they are transformers' names).")
    for name, tensor in theirs.items():
        if ours[name].shape != tensor.shape:
            raise CaseFailed(f"parameter {name} has shape {tuple(ours[name].shape)}, expected {tuple(tensor.shape)} "
                             "(nn.Linear(in, out) stores its weight as (out, in); check the sizes you used)")
    module.load_state_dict(theirs)


def pair(cls, reference_cls, config: BertConfig, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(learner's module, reference module), both in eval mode with the same random weights."""
    reference = randomise(reference_cls(config), seed).eval()
    module = build(cls, config, seed)
    same_weights(module, reference)
    return module, reference


def first(output):
    """The main tensor of a module's output: the tensor itself, or the first item of a tuple."""
    return output[0] if isinstance(output, (tuple, list)) else output


def expect_dropout(case, cls, run, *, where: str, active: dict, inactive: dict | None = None) -> None:
    """With the dropout probabilities in ``active`` set to 0.5, training mode must change the output (and eval
    mode must not); with those in ``inactive`` at 0.5 (and ``active`` at 0) training mode must change nothing."""
    module = build(cls, tiny_config(**active))
    with torch.no_grad():
        evaluated = first(run(module))
        module.train()
        torch.manual_seed(1)
        trained = first(run(module))
    case.expect(not torch.allclose(evaluated, trained),
                f"in training mode the output did not change with {', '.join(f'{k}=0.5' for k in active)}: "
                f"BERT applies dropout {where}")
    if inactive:
        module = build(cls, tiny_config(**inactive))
        with torch.no_grad():
            evaluated = first(run(module))
            module.train()
            trained = first(run(module))
        case.expect(torch.allclose(evaluated, trained),
                    f"the output changed in training mode with only {', '.join(inactive)}=0.5: this module's "
                    f"dropout uses {', '.join(active)}, {where}")
