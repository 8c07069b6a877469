"""Knowledge distillation (bert_edu.analysis.distillation): the loss, the student, the training loop."""

import math

import torch
import torch.nn.functional as F

from bert_edu.analysis import distillation as D
from bert_edu.exercises.challenges import reference_distillation_loss
from bert_edu.model.config import BertConfig
from bert_edu.model.heads import BertForSequenceClassification


def test_loss_matches_the_written_out_formula():
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 3), torch.randn(6, 3), torch.randint(0, 3, (6,))
    for temperature, alpha in [(1.0, 0.5), (2.0, 0.7), (4.0, 1.0), (3.0, 0.0)]:
        torch.testing.assert_close(D.distillation_loss(s, t, y, temperature, alpha),
                                   reference_distillation_loss(s, t, y, temperature, alpha))
    torch.testing.assert_close(D.distillation_loss(s, t, y, 2.0, 0.0), F.cross_entropy(s, y))  # alpha 0: labels only


def test_soft_term_vanishes_when_the_student_copies_the_teacher():
    t = torch.randn(4, 2)
    s = t.clone().requires_grad_(True)
    loss = D.distillation_loss(s, t, torch.zeros(4, dtype=torch.long), temperature=3.0, alpha=1.0)
    loss.backward()
    assert loss.abs().item() < 1e-6 and s.grad.abs().max().item() < 1e-6


def classifier_config(**kw):
    return BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=20, num_labels=2, **kw)


def test_teacher_logits_keep_the_order_of_the_features():
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(classifier_config()).eval()
    features = [{"input_ids": [2] + [10 + i] * (1 + i % 4) + [3]} for i in range(7)]
    logits = D.teacher_logits(teacher, features, batch_size=3)
    with torch.no_grad():
        one_by_one = torch.cat([teacher(torch.tensor([f["input_ids"]])).logits for f in features])
    torch.testing.assert_close(logits, one_by_one, atol=1e-5, rtol=1e-4)


def test_student_has_the_size_and_vocabulary_asked_for(tmp_path):
    classifier_config().save_pretrained(tmp_path)
    student = D.student_classifier(tmp_path, ["negative", "positive"], size="tiny")
    assert student.config.vocab_size == 60 and student.config.num_hidden_layers == 2
    assert student.config.hidden_size == 128 and student.config.id2label == {0: "negative", 1: "positive"}


def test_training_on_soft_targets_moves_the_student_towards_the_teacher():
    torch.manual_seed(0)
    teacher = BertForSequenceClassification(classifier_config()).eval()
    features = [{"input_ids": [2] + torch.randint(5, 60, (5,)).tolist() + [3], "label": i % 2} for i in range(64)]
    soft = D.teacher_logits(teacher, features)
    torch.manual_seed(1)
    student = BertForSequenceClassification(classifier_config())

    def disagreement():
        return F.kl_div(F.log_softmax(D.teacher_logits(student, features), -1), F.log_softmax(soft, -1),
                        reduction="batchmean", log_target=True).item()

    before = disagreement()
    run = D.train_student(student, features, soft, epochs=8, lr=3e-3, batch_size=16, alpha=1.0, temperature=1.0)
    assert run["steps"] == 8 * math.ceil(64 / 16)
    assert disagreement() < 0.5 * before
    assert not student.training
