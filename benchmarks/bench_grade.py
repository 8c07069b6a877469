"""How long does `bert-edu grade` take for a class? Grade 30 learners of notebook 03 (attention) and print the
total time, the time per learner, and the notebook's own recorded time for comparison.

The class: a third hand in the solutions, a third the untouched exercise edition, a third one classic bug each
(the causal mask's upper triangle, the padding mask forgotten, no scaling by sqrt(d_k)). Half of
them are folders, half files named for the learner (which notebook a file is, is read from its cells).

    python benchmarks/bench_grade.py [--learners 30] [--seed 0] [--keep DIR]

This is a benchmark, not a test: the time depends on the machine and its load (each notebook starts its own
Jupyter kernel and runs every cell). The expected totals are checked all the same, so a wrong grade fails loudly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from bert_edu.course import grade
from bert_edu.course.student_edition import make_student_notebook

NOTEBOOK = "03_attention.ipynb"
BUGS = {
    "causal": ("def causal_attention_mask", ".tril()", ".triu()"),
    "no_mask": ("def attention(", "logits = logits.masked_fill(mask == 0, torch.finfo(logits.dtype).min)",
                "pass  # the padding mask is forgotten"),
    "no_scale": ("def attention(", "/ math.sqrt(d)", ""),
}


def build_class(folder: Path, n: int) -> dict[str, str]:
    """Write ``n`` learners; returns learner -> kind ("solutions", "untouched" or the bug's name)."""
    source = nbformat.read(grade.course_notebooks_dir() / NOTEBOOK, as_version=4)
    student = make_student_notebook(source, NOTEBOOK)[0]
    kinds = {}
    for i in range(n):
        kind = ["solutions", "untouched", list(BUGS)[(i // 3) % len(BUGS)]][i % 3]
        nb = student if kind == "untouched" else nbformat.reads(nbformat.writes(source), as_version=4)
        if kind in BUGS:
            marker, old, new = BUGS[kind]
            cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
            assert old in cell.source, (kind, old)
            cell.source = cell.source.replace(old, new)
        learner = f"learner{i:02d}-{kind}"
        if i % 2:
            (folder / learner).mkdir()
            nbformat.write(nb, folder / learner / NOTEBOOK)
        else:
            nbformat.write(nb, folder / f"{learner}.ipynb")
        kinds[learner] = kind
    return kinds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the class and the grades here and keep them")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-grade-"))
    (root / "submissions").mkdir(parents=True, exist_ok=True)
    kinds = build_class(root / "submissions", args.learners)
    start = time.perf_counter()
    exercises, grades = grade.grade_class(root / "submissions", root / "out", seed=args.seed, progress=lambda _: None)
    seconds = time.perf_counter() - start
    full = sum(e.points for e in exercises)
    wrong = []
    for g in grades:
        kind = kinds[g.learner]
        if (kind == "solutions" and g.total != full) or (kind == "untouched" and g.total != 0) or (
                kind in BUGS and not 0 < g.total < full):
            wrong.append(f"{g.learner}: {g.total}/{full} {g.reasons}")
    recorded = grade.default_timeout(NOTEBOOK)
    print(f"graded {len(grades)} learners of {NOTEBOOK} ({len(exercises)} exercises, {full} points) in "
          f"{seconds:.0f} s: {seconds / len(grades):.1f} s per learner "
          f"(the notebook's time limit: {recorded} s; its recorded run: "
          f"{(recorded - grade.TIMEOUT_BASE) / grade.TIMEOUT_FACTOR:.0f} s)")
    print(f"outputs in {root / 'out'}" if args.keep else "")
    if wrong:
        print("UNEXPECTED GRADES:\n  " + "\n  ".join(wrong))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
