"""The course's 10-minute prerequisite self-check (docs/teaching.md, "Prerequisites").

    python docs/self_check.py

Fill in the six functions below (each is a few lines), then run this file. It checks each one and says, for a
miss, what to review before notebook 01. Do it without looking anything up: if it takes you much longer than
10 minutes, review that topic first (links in docs/teaching.md).
"""

import math

import torch
from torch import nn


# 1. Python: a dict of word counts, most frequent first, ties in alphabetical order.
def word_counts(words: list[str]) -> list[tuple[str, int]]:
    # YOUR CODE HERE
    raise NotImplementedError()


# 2. Tensors: x has shape (batch, T, hidden). Return the mean over T of every sentence: shape (batch, hidden).
def mean_over_tokens(x: torch.Tensor) -> torch.Tensor:
    # YOUR CODE HERE
    raise NotImplementedError()


# 3. Tensors: a (batch, T, hidden) times a (hidden, out) weight, plus a bias (out,): shape (batch, T, out),
#    with one matrix product and broadcasting (no loop).
def affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    # YOUR CODE HERE
    raise NotImplementedError()


# 4. Autograd: the gradient of f(w) = sum((w * x - y) ** 2) with respect to w, computed by torch (backward).
def gradient(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # YOUR CODE HERE
    raise NotImplementedError()


# 5. nn.Module: a module with a Linear(d, d) layer followed by ReLU, plus the input (a residual): x + relu(Wx + b).
class Residual(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        # YOUR CODE HERE
        raise NotImplementedError()


# 6. Softmax and cross-entropy, by hand (no F.cross_entropy): logits (n, classes), labels (n,) -> the mean loss.
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # YOUR CODE HERE
    raise NotImplementedError()


def _checks():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, generator=g)
    w, b = torch.randn(4, 5, generator=g), torch.randn(5, generator=g)
    logits, labels = torch.randn(6, 3, generator=g), torch.tensor([0, 2, 1, 1, 0, 2])

    def residual_ok():
        torch.manual_seed(0)
        m = Residual(4)
        linear = [c for c in m.modules() if isinstance(c, nn.Linear)]
        return len(linear) == 1 and torch.allclose(m(x), x + torch.relu(linear[0](x)))

    def gradient_ok():
        wt, xt, yt = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.5]), torch.tensor([1.0, 1.0])
        return torch.allclose(gradient(wt.clone(), xt, yt), 2 * (wt * xt - yt) * xt)

    return [
        ("Python (dicts, sorting)", lambda: word_counts(["b", "a", "b", "c", "a", "b"]) == [("b", 3), ("a", 2),
                                                                                          ("c", 1)]),
        ("tensor shapes and reductions", lambda: torch.allclose(mean_over_tokens(x), x.mean(1))),
        ("matrix products and broadcasting", lambda: torch.allclose(affine(x, w, b), x @ w + b, atol=1e-6)),
        ("autograd", gradient_ok),
        ("nn.Module", residual_ok),
        ("softmax and cross-entropy", lambda: math.isclose(float(cross_entropy(logits, labels)),
                                                           float(nn.functional.cross_entropy(logits, labels)),
                                                           rel_tol=1e-5)),
    ]


if __name__ == "__main__":
    passed = 0
    for topic, check in _checks():
        try:
            ok = bool(check())
        except NotImplementedError:
            ok, note = False, "not answered yet"
        except Exception as err:
            ok, note = False, f"{type(err).__name__}: {err}"
        else:
            note = "" if ok else "wrong result"
        passed += ok
        print(f"[{'OK' if ok else 'REVIEW'}] {topic}" + (f" ({note})" if note else ""))
    print(f"{passed}/6: " + ("ready for notebook 01." if passed == 6 else
                             "review the topics marked REVIEW first (docs/teaching.md, Prerequisites)."))
