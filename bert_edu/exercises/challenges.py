"""Checkers for notebook 12 (the open challenges): integrated gradients as a Riemann sum, and the loss of
knowledge distillation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.exercises._harness import Checker

# ------------------------------------------------------------------------------------ integrated gradients


def reference_integrated_gradients(f, x, baseline, steps):
    """IG_i = (x_i - b_i) * mean over the midpoints alpha_k = (k + 0.5) / steps of df/dx_i (b + alpha_k (x - b)).

    ``f`` takes a batch of points (m, *x.shape) and returns one number per point (m,).
    """
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    shape = (steps,) + (1,) * x.dim()
    path = (baseline + alphas.view(shape) * (x - baseline)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(path).sum(), path)
    return (x - baseline) * grad.mean(0)


def _gradient_at(f, points):
    points = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(points).sum(), points)
    return grad


def _ig_mistakes(f, x, baseline, steps):
    shape = (steps,) + (1,) * x.dim()
    mid = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    left = torch.arange(steps, dtype=x.dtype) / steps
    right = (torch.arange(steps, dtype=x.dtype) + 1) / steps
    g_mid = _gradient_at(f, baseline + mid.view(shape) * (x - baseline))
    mistakes = {
        "multiply the averaged gradient by (x - baseline): without it you return the mean gradient":
            g_mid.mean(0),
        "average the gradients over the steps (mean), do not add them up": (x - baseline) * g_mid.sum(0),
        "the gradients must be taken ALONG THE PATH from the baseline to x; this is gradient x input at x":
            x * _gradient_at(f, x[None])[0],
        "multiply by (x - baseline), not by x: the baseline is not zero here": x * g_mid.mean(0),
        "use the midpoints alpha = (k + 0.5) / steps; this looks like the left end points k / steps":
            (x - baseline) * _gradient_at(f, baseline + left.view(shape) * (x - baseline)).mean(0),
        "use the midpoints alpha = (k + 0.5) / steps; this looks like the right end points (k + 1) / steps":
            (x - baseline) * _gradient_at(f, baseline + right.view(shape) * (x - baseline)).mean(0),
    }
    return mistakes


def check_integrated_gradients(fn, quiet: bool = False) -> bool:
    """fn(f, x, baseline, steps) -> attributions, a tensor shaped like x (see the reference's docstring)."""
    ck = Checker("integrated_gradients", fn, quiet=quiet)
    torch.manual_seed(0)
    w = torch.randn(5, dtype=torch.float64)

    def linear(z):
        return z @ w

    def squares(z):
        return (z ** 2).sum(-1)

    def network(z):  # a small nonlinear function of a (3, 4) input: completeness must still hold
        return torch.tanh(z @ torch.linspace(-1, 1, 4, dtype=torch.float64)).pow(2).sum(-1) + z.sin().sum((-1, -2))

    cases = [
        ("a linear function: IG = w * (x - baseline), exactly", linear,
         torch.randn(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64), 4),
        ("sum of squares with a non-zero baseline: IG_i = x_i^2 - b_i^2", squares,
         torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64), 8),
        ("a nonlinear function of a (3, 4) input, 64 steps", network,
         torch.randn(3, 4, dtype=torch.float64), 0.3 * torch.randn(3, 4, dtype=torch.float64), 64),
    ]
    for name, f, x, baseline, steps in cases:
        with ck.case(name) as case:
            got = fn(f, x.clone(), baseline.clone(), steps)
            all_zero = isinstance(got, torch.Tensor) and got.shape == x.shape and bool((got == 0).all())
            case.expect(not all_zero, "your attributions are all zero: compute the gradients of f at the points "
                                      "of the path with torch.autograd.grad, average them, multiply by (x - baseline)")
            case.expect_close(got, reference_integrated_gradients(f, x, baseline, steps), atol=1e-6, rtol=1e-5,
                              mistakes=_ig_mistakes(f, x, baseline, steps), what="attributions")
    with ck.case("completeness: the attributions add up to f(x) - f(baseline)") as case:
        f, x, baseline = network, torch.randn(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
        got = fn(f, x, baseline, 64)
        gap = abs(float(got.sum()) - float(f(x[None]) - f(baseline[None])))
        case.expect(gap < 1e-3, f"sum of your attributions - (f(x) - f(baseline)) = {gap:.3g}, should be < 1e-3")
    return ck.verdict()


# ------------------------------------------------------------------------------------ distillation loss


def reference_distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    """alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels),
    averaged over the batch (Hinton et al. 2015)."""
    t = temperature
    soft_teacher = F.softmax(teacher_logits / t, dim=-1)
    kl = (soft_teacher * (F.log_softmax(teacher_logits / t, dim=-1)
                          - F.log_softmax(student_logits / t, dim=-1))).sum(-1).mean()
    return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student_logits, labels)


def _kl(p_logits, q_logits, t):
    """KL(softmax(p / t) || softmax(q / t)), batch mean."""
    p = F.softmax(p_logits / t, dim=-1)
    return (p * (F.log_softmax(p_logits / t, dim=-1) - F.log_softmax(q_logits / t, dim=-1))).sum(-1).mean()


def _kd_mistakes(s, te, y, t, a):
    ce = F.cross_entropy(s, y)
    return {
        "multiply the soft term by T^2 (T = temperature): its gradients shrink like 1 / T^2 otherwise":
            a * _kl(te, s, t) + (1 - a) * ce,
        "the KL goes from the teacher to the student: KL(teacher || student), "
        "sum of p_teacher * log(p_teacher / p_student)":
            a * t * t * _kl(s, te, t) + (1 - a) * ce,
        "divide BOTH the student's and the teacher's logits by the temperature":
            a * t * t * _kl(te * t, s, t) + (1 - a) * ce,
        "alpha weights the soft (teacher) term and 1 - alpha the hard labels, not the other way round":
            (1 - a) * t * t * _kl(te, s, t) + a * ce,
        "the hard-label term is the cross-entropy at temperature 1, on the student's plain logits":
            a * t * t * _kl(te, s, t) + (1 - a) * F.cross_entropy(s / t, y),
        "average over the batch (mean), do not add up the sentences":
            (a * t * t * _kl(te, s, t) + (1 - a) * ce) * s.shape[0],
    }


def check_distillation_loss(fn, quiet: bool = False) -> bool:
    """fn(student_logits, teacher_logits, labels, temperature, alpha) -> a scalar tensor."""
    ck = Checker("distillation_loss", fn, quiet=quiet)
    torch.manual_seed(0)
    cases = [
        ("4 sentences, 2 classes, T = 2, alpha = 0.5", 4, 2, 2.0, 0.5),
        ("8 sentences, 3 classes, T = 4, alpha = 0.9", 8, 3, 4.0, 0.9),
        ("alpha = 0: only the hard labels (the baseline student)", 5, 2, 3.0, 0.0),
        ("T = 1, alpha = 1: only the teacher's probabilities", 6, 4, 1.0, 1.0),
    ]
    for name, n, c, t, a in cases:
        with ck.case(name) as case:
            s, te = 2 * torch.randn(n, c), 3 * torch.randn(n, c)
            y = torch.randint(0, c, (n,))
            got = fn(s.clone(), te.clone(), y.clone(), t, a)
            if isinstance(got, (int, float)) or (isinstance(got, torch.Tensor) and got.numel() == 1):
                got = torch.as_tensor(got, dtype=torch.float32).reshape(())
            case.expect(not (isinstance(got, torch.Tensor) and float(got) == 0.0 and a > 0),
                        "your loss is 0 for a student that disagrees with its teacher: compute the KL divergence "
                        "between the softened distributions (and the cross-entropy with the labels)")
            case.expect_close(got, reference_distillation_loss(s, te, y, t, a), atol=1e-5, rtol=1e-4,
                              mistakes=_kd_mistakes(s, te, y, t, a), what="loss")
    with ck.case("the loss has a gradient for the student's logits") as case:
        s = torch.randn(3, 2, requires_grad=True)
        loss = fn(s, torch.randn(3, 2), torch.tensor([0, 1, 1]), 2.0, 0.5)
        case.expect(isinstance(loss, torch.Tensor) and loss.requires_grad,
                    "the loss must be a tensor computed from student_logits with torch operations "
                    "(no .item(), no numpy), so that loss.backward() can train the student")
    return ck.verdict()
