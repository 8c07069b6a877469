"""Course tooling: notebook execution, the student edition, attention visualisation (notebook 06), the
side-by-side bridge to `transformers` (notebook 09) and :func:`pick_recipe`, the switch every training notebook
(07, 08, 09, 10, 11, 12) reads its sizes through."""

from bert_edu.data import assets
from bert_edu.data.assets import SMOKE_ENV

__all__ = ["SMOKE_ENV", "pick_recipe"]


def pick_recipe(real, smoke):
    """``real`` normally; ``smoke`` when the environment says ``BERT_EDU_SMOKE=1``.

    A training notebook names its sizes once (sentences, steps, epochs) with both values::

        RUN = pick_recipe(real=dict(train_sentences=1000, epochs=2), smoke=dict(train_sentences=32, epochs=1))

    The smoke recipe runs the same code paths on a few sentences and steps: ``make test`` executes the student
    edition with it (``tests/test_student_edition.py``), where only errors and the checkers' messages are
    checked; the solution notebooks under nbval keep the real recipe. Trained numbers under smoke mean nothing.
    """
    return smoke if assets.smoke() else real
