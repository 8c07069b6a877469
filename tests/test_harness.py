"""The exercise harness: every verdict a learner can see says what is wrong in words they can act on."""

import math

import pytest
import torch

from bert_edu.exercises import Checker, use_or_reference
from exercise_helpers import assert_checker_fails, assert_checker_passes


def reference_softmax(x):
    return torch.softmax(x, dim=-1)


def check_softmax(fn, quiet=False) -> bool:
    """A small checker written the way the topic checkers are."""
    ck = Checker("softmax", fn, quiet=quiet)
    x = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    with ck.case("2 rows of 3") as case:
        case.expect_close(fn(x), reference_softmax(x),
                          mistakes={"the softmax was taken over the wrong axis (dim=0)": torch.softmax(x, dim=0)})
    big = torch.tensor([[1000.0, 1001.0]])
    with ck.case("large scores (numerical stability)") as case:
        case.expect_close(fn(big), reference_softmax(big))
    return ck.verdict()


def check_tokens(fn, quiet=False) -> bool:
    ck = Checker("tokens", fn, quiet=quiet)
    with ck.case("'Hello world'") as case:
        case.expect_equal(fn("Hello world"), ["hello", "world"],
                          mistakes={"you forgot to lowercase": ["Hello", "world"]})
    return ck.verdict()


def good_softmax(x):
    return torch.softmax(x, dim=-1)


def test_reference_passes_with_a_friendly_verdict(capsys):
    assert_checker_passes(check_softmax, good_softmax, capsys)
    assert check_softmax(good_softmax) is True
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "check_softmax: 2/2 cases passed",
        "  [OK]   2 rows of 3",
        "  [OK]   large scores (numerical stability)",
        "  Well done: `good_softmax` matches the reference on every case.",
    ]


def test_quiet_prints_nothing(capsys):
    assert check_softmax(good_softmax, quiet=True) is True
    assert check_softmax(lambda x: x, quiet=True) is False
    assert capsys.readouterr().out == ""


def test_shape_mismatch_names_both_shapes_and_the_transpose(capsys):
    def transposed(x):
        return torch.softmax(x, dim=-1).T

    assert_checker_fails(check_softmax, transposed, capsys)
    assert check_softmax(transposed) is False
    out = capsys.readouterr().out
    assert "shape (3, 2), expected (2, 3)" in out
    assert "transposed" in out


def test_nan_is_explained(capsys):
    def naive_softmax(x):  # exp overflows on large scores: inf / inf = nan
        e = torch.exp(x)
        return e / e.sum(-1, keepdim=True)

    assert_checker_fails(check_softmax, naive_softmax, capsys, hint="NaN or inf")
    check_softmax(naive_softmax)
    out = capsys.readouterr().out
    assert "[OK]   2 rows of 3" in out  # the first case passes: the verdict says which ones do
    assert "[FAIL] large scores (numerical stability)" in out


def test_known_mistake_gets_its_hint(capsys):
    def wrong_axis(x):
        return torch.softmax(x, dim=0)

    assert_checker_fails(check_softmax, wrong_axis, capsys,
                         hint="Likely mistake: the softmax was taken over the wrong axis")


def test_unknown_mistake_shows_expected_and_got(capsys):
    def off(x):
        return torch.softmax(x, dim=-1) + 0.01

    check_softmax(off)
    out = capsys.readouterr().out
    assert "differs from the reference. Largest difference 0.01" in out
    assert "expected: [" in out and "got:      [" in out


def test_mistake_hints_for_exact_values(capsys):
    assert_checker_fails(check_tokens, lambda s: s.split(), capsys, hint="you forgot to lowercase")
    assert_checker_passes(check_tokens, lambda s: s.lower().split(), capsys)

    def a_string(s):
        return "hello world"

    check_tokens(a_string)
    out = capsys.readouterr().out
    assert "expected: ['hello', 'world']" in out and "got:      'hello world'" in out


def test_expect_equal_never_crashes_on_tensors_vs_lists(capsys):
    ck = Checker("ids", None)
    with ck.case("tensor where a list is expected") as case:
        case.expect_equal(torch.tensor([1, 2]), [1, 2], mistakes={"x": [2, 1]})
    with ck.case("list where a tensor is expected") as case:
        case.expect_equal([1, 2], torch.tensor([1, 2]))
    with ck.case("tensor of another shape") as case:
        case.expect_equal(torch.tensor([[1, 2]]), torch.tensor([1, 2]))
    with ck.case("a count computed as a 0-d tensor") as case:
        case.expect_equal(torch.tensor(7), 7)
    with ck.case("equal tensors") as case:
        case.expect_equal(torch.tensor([1, 2]), torch.tensor([1, 2]))
    assert ck.verdict() is False
    out = capsys.readouterr().out
    assert "expected list as output, got Tensor" in out
    assert "expected Tensor as output, got list" in out
    assert "shape (1, 2), expected (2,)" in out
    assert "[OK]   equal tensors" in out and "[OK]   a count computed as a 0-d tensor" in out
    assert "could not" not in out  # the comparison itself never fails


def test_not_implemented_is_not_a_crash(capsys):
    def my_softmax(x):
        # YOUR CODE HERE
        raise NotImplementedError()

    assert check_softmax(my_softmax) is False
    out = capsys.readouterr().out
    assert "check_softmax: not implemented yet" in out
    assert "`my_softmax` still raises NotImplementedError" in out
    assert "Traceback" not in out


def test_partly_implemented_lists_each_case(capsys):
    def half_done(x):
        if x.abs().max() > 100:
            raise NotImplementedError()
        return torch.softmax(x, dim=-1)

    assert check_softmax(half_done) is False
    out = capsys.readouterr().out
    assert "1/2 cases passed" in out
    assert "`half_done` is not implemented yet" in out


def test_crash_shows_the_learners_line(capsys):
    def crashes(x):
        scores = x @ x  # (2, 3) @ (2, 3): the learner forgot a transpose
        return scores

    assert_checker_fails(check_softmax, crashes, capsys)
    check_softmax(crashes)
    out = capsys.readouterr().out
    assert "your code raised RuntimeError" in out
    assert "`scores = x @ x  # (2, 3) @ (2, 3): the learner forgot a transpose`" in out
    assert "_harness.py" not in out


def test_crash_inside_torch_points_at_the_learners_call(capsys):
    def bad_dim(x):
        return torch.nn.functional.softmax(x, dim=5)

    check_softmax(bad_dim)
    out = capsys.readouterr().out
    assert "your code raised IndexError" in out
    assert "return torch.nn.functional.softmax(x, dim=5)" in out


def test_never_prints_assertion_error(capsys):
    def asserts(x):
        assert x.dim() == 3, "I expected a batch"
        return x

    assert_checker_fails(check_softmax, asserts, capsys)  # checks "AssertionError" is not printed
    check_softmax(asserts)
    out = capsys.readouterr().out
    assert "your code stopped at a failed `assert`: I expected a batch" in out
    assert 'assert x.dim() == 3, "I expected a batch"' in out

    def checker_with_a_bare_assert(fn, quiet=False):
        ck = Checker("bare", fn, quiet=quiet)
        with ck.case("one"):
            assert fn(1) == 2
        return ck.verdict()

    assert checker_with_a_bare_assert(lambda v: v) is False
    out = capsys.readouterr().out
    assert "AssertionError" not in out and "failed `assert`" in out


def test_returning_none_asks_about_return(capsys):
    def forgot_return(x):
        torch.softmax(x, dim=-1)

    assert_checker_fails(check_softmax, forgot_return, capsys, hint="did you forget the `return` statement?")
    assert_checker_fails(check_tokens, lambda s: None, capsys, hint="did you forget the `return` statement?")


def test_wrong_signature_and_wrong_output_type(capsys):
    def two_args(x, y):
        return x

    check_softmax(two_args)
    out = capsys.readouterr().out
    assert "could not be called the way the exercise specifies" in out

    def as_list(x):
        return torch.softmax(x, dim=-1).tolist()

    check_softmax(as_list)
    assert "expected a torch.Tensor as output, got list" in capsys.readouterr().out

    check_softmax(good_softmax(torch.ones(2, 3)))  # the result instead of the function
    assert "pass the function's name without calling it" in capsys.readouterr().out


def test_expect_message_and_empty_checker(capsys):
    ck = Checker("rows", None)
    with ck.case("rows sum to one") as case:
        case.expect(math.isclose(0.9, 1.0), "the rows sum to 0.9, not 1")
    assert ck.verdict() is False
    assert "the rows sum to 0.9, not 1" in capsys.readouterr().out
    assert Checker("empty", None, quiet=True).verdict() is False  # no case run is never a pass


def test_use_or_reference_returns_the_learners_function_when_it_passes(capsys):
    assert use_or_reference(good_softmax, reference_softmax, check_softmax) is good_softmax
    assert capsys.readouterr().out == ""  # a passing exercise adds nothing to the notebook's output


@pytest.mark.parametrize("kind", ["not implemented", "wrong", "crashing check"])
def test_use_or_reference_falls_back_visibly(capsys, kind):
    def my_softmax(x):
        if kind == "not implemented":
            raise NotImplementedError()
        return x

    def crashing_check(fn, quiet=False):
        raise RuntimeError("a broken checker must not stop the notebook")

    check = crashing_check if kind == "crashing check" else check_softmax
    fn = use_or_reference(my_softmax, reference_softmax, check)
    assert fn is reference_softmax
    out = capsys.readouterr().out
    assert out.startswith("Note: `my_softmax` does not pass its check yet, so the cells below use the "
                          "reference `test_harness.reference_softmax`.")
    assert f"Run `{check.__name__}(my_softmax)`" in out
    assert out.count("\n") == 1  # one quiet line, not the checker's full verdict
