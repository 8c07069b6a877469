"""Knowledge distillation: a small student learns from a fine-tuned teacher's soft targets (notebook 12).

Hinton, Vinyals and Dean (2015), *Distilling the Knowledge in a Neural Network*: besides the true label, the
student is trained to match the teacher's whole output distribution, softened by a temperature T,

    loss = alpha * T^2 * KL( softmax(z_teacher / T) || softmax(z_student / T) )
         + (1 - alpha) * cross_entropy(z_student, label)

The soft targets say *how* sure the teacher is ("probably positive, 0.7") and so carry more information per
sentence than the label alone; T > 1 flattens them so the small probabilities count too, and T^2 keeps the
gradient's scale independent of T. ``alpha = 0`` is the hard-label student, the baseline.

The student here is the course's ``tiny`` BERT (2 layers, hidden 128) with MiniLM's vocabulary and random
weights; the teacher is notebook 08's fine-tuned MiniLM. MiniLM itself was made this way: Wang et al. (2020),
*MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained Transformers*,
trained a small student to mimic the last layer's self-attention of a large teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.data.batching import collate, sorted_batches
from bert_edu.train import common
from bert_edu.train.loop import fit


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                      alpha: float = 0.5) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels), averaged over the batch."""
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1), reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature ** 2 * soft + (1 - alpha) * hard


@torch.no_grad()
def teacher_logits(teacher, features: list[dict], batch_size: int = 64, pad_token_id: int = 0,
                   mixed_precision: str = "no") -> torch.Tensor:
    """(N, num_labels) logits of the teacher for every feature, computed once, in the order of ``features``."""
    device = next(teacher.parameters()).device
    teacher.eval()
    out = torch.empty(len(features), teacher.config.num_labels)
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        batch = collate([{"input_ids": features[i]["input_ids"]} for i in idx], pad_token_id)
        with common.autocast(device, mixed_precision):
            logits = teacher(batch["input_ids"].to(device), batch["attention_mask"].to(device)).logits
        out[idx] = logits.float().cpu()
    return out


def student_classifier(tokenizer_folder, label_names, size: str = "tiny", seed: int = 0):
    """A randomly initialised BERT classifier of a named size (``bert_edu.model.config.SIZES``) with the
    vocabulary of ``tokenizer_folder`` (so it reads the teacher's token ids)."""
    from bert_edu import BertConfig, BertForSequenceClassification
    from bert_edu.model.config import SIZES

    torch.manual_seed(seed)
    base = BertConfig.from_pretrained(tokenizer_folder)
    config = BertConfig(vocab_size=base.vocab_size, pad_token_id=base.pad_token_id,
                        max_position_embeddings=base.max_position_embeddings, **SIZES[size],
                        **common.label_maps(label_names))
    return BertForSequenceClassification(config)


def train_student(student, features: list[dict], soft_targets: torch.Tensor | None, *, epochs: int = 3,
                  lr: float = 1e-3, batch_size: int = 32, temperature: float = 2.0, alpha: float = 0.5,
                  seed: int = 0, pad_token_id: int = 0, device=None, loss_fn=None, eval_features=None,
                  mixed_precision: str = "no") -> dict:
    """Train ``student`` on ``features`` (``input_ids``, ``label``); with ``soft_targets`` (N, num_labels
    teacher logits) the loss is ``loss_fn`` (default :func:`distillation_loss`), without them plain
    cross-entropy (the hard-label student). The loop is :func:`bert_edu.train.loop.fit` (AdamW, warmup then
    linear decay, bucketed batches, clipping at 1); with ``eval_features`` the student's accuracy is measured
    after every epoch (with the training's ``mixed_precision``) and the best epoch kept.
    Returns ``{'seconds', 'steps', 'history'}``."""
    from bert_edu.train.classify import evaluate

    def loss(model, batch, idx):
        logits = model(batch["input_ids"], batch["attention_mask"]).logits.float()
        if soft_targets is None:
            return F.cross_entropy(logits, batch["labels"])
        return (loss_fn or distillation_loss)(logits, soft_targets[idx].to(logits.device), batch["labels"],
                                              temperature, alpha)

    def score(model, device, mixed_precision):
        return evaluate(model, eval_features, device=device, pad_token_id=pad_token_id,
                        mixed_precision=mixed_precision)

    common.set_seed(seed)
    result = fit(student, features, lambda fs: collate(fs, pad_token_id), evaluate=score if eval_features else None,
                 epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device, progress=False,
                 mixed_precision=mixed_precision, log=None, loss_fn=loss)
    student.eval()
    return {"seconds": result.seconds, "steps": result.steps, "history": result.history}
