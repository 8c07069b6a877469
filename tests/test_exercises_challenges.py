"""The notebook-12 checkers accept correct versions and name the mistake in typical wrong ones."""

import torch
import torch.nn.functional as F

from bert_edu.exercises.challenges import (check_distillation_loss, check_integrated_gradients,
                                           reference_distillation_loss, reference_integrated_gradients)
from exercise_helpers import assert_checker_fails, assert_checker_passes

# ------------------------------------------------------------------------------------- integrated gradients


def my_ig(f, x, baseline, steps):
    total = torch.zeros_like(x)
    for k in range(steps):  # one point at a time, written differently from the reference
        point = (baseline + (k + 0.5) / steps * (x - baseline)).detach().requires_grad_(True)
        f(point[None]).sum().backward()
        total += point.grad
    return (x - baseline) * total / steps


def test_integrated_gradients_accepts_correct_versions(capsys):
    assert_checker_passes(check_integrated_gradients, reference_integrated_gradients, capsys)
    assert_checker_passes(check_integrated_gradients, my_ig, capsys)


def _path_gradients(f, x, baseline, alphas):
    shape = (len(alphas),) + (1,) * x.dim()
    path = (baseline + alphas.view(shape) * (x - baseline)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(path).sum(), path)
    return grad


def test_integrated_gradients_names_typical_mistakes(capsys):
    def midpoints(x, steps):
        return (torch.arange(steps, dtype=x.dtype) + 0.5) / steps

    def mean_gradient_only(f, x, baseline, steps):
        return _path_gradients(f, x, baseline, midpoints(x, steps)).mean(0)

    def summed(f, x, baseline, steps):
        return (x - baseline) * _path_gradients(f, x, baseline, midpoints(x, steps)).sum(0)

    def gradient_times_input(f, x, baseline, steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x[None]).sum(), x)
        return x.detach() * grad

    def left_riemann(f, x, baseline, steps):
        return (x - baseline) * _path_gradients(f, x, baseline, torch.arange(steps, dtype=x.dtype) / steps).mean(0)

    def times_x(f, x, baseline, steps):
        return x * _path_gradients(f, x, baseline, midpoints(x, steps)).mean(0)

    def do_nothing(f, x, baseline, steps):
        return torch.zeros_like(x)

    assert_checker_fails(check_integrated_gradients, mean_gradient_only, capsys, hint="multiply the averaged gradient")
    assert_checker_fails(check_integrated_gradients, summed, capsys, hint="do not add them up")
    assert_checker_fails(check_integrated_gradients, gradient_times_input, capsys, hint="ALONG THE PATH")
    assert_checker_fails(check_integrated_gradients, left_riemann, capsys, hint="left end points")
    assert_checker_fails(check_integrated_gradients, times_x, capsys, hint="not by x")
    assert_checker_fails(check_integrated_gradients, do_nothing, capsys, hint="all zero")


def test_integrated_gradients_not_started(capsys):
    def not_started(f, x, baseline, steps):
        raise NotImplementedError()

    assert check_integrated_gradients(not_started) is False
    assert "not implemented yet" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- distillation loss


def my_kd(student_logits, teacher_logits, labels, temperature, alpha):
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=-1)
    soft = F.kl_div(log_p_student, p_teacher, reduction="batchmean")
    return alpha * temperature ** 2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def test_distillation_loss_accepts_correct_versions(capsys):
    assert_checker_passes(check_distillation_loss, reference_distillation_loss, capsys)
    assert_checker_passes(check_distillation_loss, my_kd, capsys)


def test_distillation_loss_names_typical_mistakes(capsys):
    def kl(p_logits, q_logits, t):
        return F.kl_div(F.log_softmax(q_logits / t, -1), F.softmax(p_logits / t, -1), reduction="batchmean")

    def no_t_squared(s, te, y, t, a):
        return a * kl(te, s, t) + (1 - a) * F.cross_entropy(s, y)

    def wrong_direction(s, te, y, t, a):
        return a * t * t * kl(s, te, t) + (1 - a) * F.cross_entropy(s, y)

    def teacher_not_softened(s, te, y, t, a):
        return a * t * t * kl(te * t, s, t) + (1 - a) * F.cross_entropy(s, y)

    def alpha_swapped(s, te, y, t, a):
        return (1 - a) * t * t * kl(te, s, t) + a * F.cross_entropy(s, y)

    def summed(s, te, y, t, a):
        return s.shape[0] * (a * t * t * kl(te, s, t) + (1 - a) * F.cross_entropy(s, y))

    def do_nothing(s, te, y, t, a):
        return torch.tensor(0.0)

    def detached(s, te, y, t, a):
        return torch.tensor(reference_distillation_loss(s, te, y, t, a).item())

    assert_checker_fails(check_distillation_loss, no_t_squared, capsys, hint="T^2")
    assert_checker_fails(check_distillation_loss, wrong_direction, capsys, hint="KL(teacher || student)")
    assert_checker_fails(check_distillation_loss, teacher_not_softened, capsys, hint="BOTH")
    assert_checker_fails(check_distillation_loss, alpha_swapped, capsys, hint="not the other way round")
    assert_checker_fails(check_distillation_loss, summed, capsys, hint="mean")
    assert_checker_fails(check_distillation_loss, do_nothing, capsys, hint="your loss is 0")
    assert_checker_fails(check_distillation_loss, detached, capsys, hint="loss.backward()")
