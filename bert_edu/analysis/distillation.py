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

import math
import random
import time

import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                      alpha: float = 0.5) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels), averaged over the batch."""
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1), reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature ** 2 * soft + (1 - alpha) * hard


@torch.no_grad()
def teacher_logits(teacher, features: list[dict], batch_size: int = 64, pad_token_id: int = 0) -> torch.Tensor:
    """(N, num_labels) logits of the teacher for every feature, computed once, in the order of ``features``."""
    from bert_edu.train.finetune import collate, sorted_batches

    device = next(teacher.parameters()).device
    teacher.eval()
    out = torch.empty(len(features), teacher.config.num_labels)
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        batch = collate([{"input_ids": features[i]["input_ids"]} for i in idx], pad_token_id)
        out[idx] = teacher(batch["input_ids"].to(device), batch["attention_mask"].to(device)).logits.float().cpu()
    return out


def student_classifier(tokenizer_folder, label_names, size: str = "tiny", seed: int = 0):
    """A randomly initialised BERT classifier of a named size (``bert_edu.model.config.SIZES``) with the
    vocabulary of ``tokenizer_folder`` (so it reads the teacher's token ids)."""
    from bert_edu import BertConfig, BertForSequenceClassification
    from bert_edu.model.config import SIZES
    from bert_edu.train.finetune import label_maps

    torch.manual_seed(seed)
    base = BertConfig.from_pretrained(tokenizer_folder)
    config = BertConfig(vocab_size=base.vocab_size, pad_token_id=base.pad_token_id,
                        max_position_embeddings=base.max_position_embeddings, **SIZES[size],
                        **label_maps(label_names))
    return BertForSequenceClassification(config)


def train_student(student, features: list[dict], soft_targets: torch.Tensor | None, *, epochs: int = 3,
                  lr: float = 1e-3, batch_size: int = 32, temperature: float = 2.0, alpha: float = 0.5,
                  seed: int = 0, pad_token_id: int = 0, device=None, loss_fn=None) -> dict:
    """Train ``student`` on ``features`` (``input_ids``, ``label``); with ``soft_targets`` (N, num_labels
    teacher logits) the loss is ``loss_fn`` (default :func:`distillation_loss`), without them plain
    cross-entropy (the hard-label student).
    AdamW, warmup then linear decay (bert_edu.train.common), bucketed batches. Returns {'seconds', 'steps'}."""
    from bert_edu.train import common
    from bert_edu.train.finetune import bucketed_batches, collate

    device = torch.device(device) if device is not None else next(student.parameters()).device
    student.to(device).train()
    common.set_seed(seed)
    rng = random.Random(seed)
    lengths = [len(f["input_ids"]) for f in features]
    total = epochs * math.ceil(len(features) / batch_size)
    optimizer = common.make_optimizer(student, lr)
    scheduler = common.linear_warmup_decay(optimizer, total // 10, total)
    start, steps = time.perf_counter(), 0
    for _ in range(epochs):
        for idx in bucketed_batches(lengths, batch_size, rng):
            batch = collate([features[i] for i in idx], pad_token_id)
            logits = student(batch["input_ids"].to(device), batch["attention_mask"].to(device)).logits.float()
            labels = batch["labels"].to(device)
            if soft_targets is None:
                loss = F.cross_entropy(logits, labels)
            else:
                loss = (loss_fn or distillation_loss)(logits, soft_targets[idx].to(device), labels, temperature,
                                                      alpha)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
    student.eval()
    return {"seconds": time.perf_counter() - start, "steps": steps}
