"""Extractive question answering data: SQuAD v1.1 JSON files, and the features BERT trains on (notebook 11,
``python -m bert_edu.qa``).

A SQuAD v1.1 file is one JSON object::

    {"version": "1.1", "data": [{"title": "...", "paragraphs": [{"context": "...", "qas": [
        {"id": "...", "question": "...", "answers": [{"text": "...", "answer_start": 177}, ...]}]}]}]}

Every answer is a piece of its context: ``context[answer_start:answer_start + len(text)] == text``. A few
answers in the published files are off by a character or more (a leading space, an edited context);
:func:`read_squad` moves such an answer to the nearest place its text occurs and counts it. An answer whose
text is nowhere in its context, a file in another format or a file with no question is a :class:`DataError`
naming the file, the question and the fix, raised before any model is loaded.

The data (asset ``squad``, from the PyPI source archive ``bigbench==1.0.0``): the SQuAD v1.1 development set
(Rajpurkar et al. 2016; Wikipedia) and the four SQuADShifts test sets (Miller et al. 2020) written the same
way on new Wikipedia articles, New York Times articles, Reddit posts and Amazon product reviews. PyPI no longer
serves that archive (December 2026), so :func:`squad_path` works only where the asset is already cached; the
course's QA data is now :mod:`bert_edu.data.cloze_qa` (SQuAD-format files built from the other assets).

Features (the model sees at most ``max_length`` tokens, but a context can be longer):
``[CLS] question [SEP] window of the context [SEP]``, with windows that overlap by ``stride`` tokens
(the tokenizer's ``return_overflowing_tokens``), and the character offsets of every context token, so a
predicted token span maps back to characters of the context. For training, the answer's characters become
``start_positions`` / ``end_positions`` token indices; a window that does not hold the whole answer points
both at ``[CLS]`` (index 0), as in the BERT paper and transformers' example.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bert_edu.data.classification import DataError

# asset file of each split (the names the notebook and the command line use)
SPLITS = {"squad_dev": "squaddev_v1.1.json", "new_wiki": "new_wiki_v1.0.json", "nyt": "nyt_v1.0.json",
          "reddit": "reddit_v1.0.json", "amazon": "amazon_reviews_v1.0.json"}
FORMAT_HINT = ('expected SQuAD v1.1 JSON: {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": '
               '[{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": ...}]}]}]}]}')


@dataclass
class SquadExample:
    id: str
    question: str
    context: str
    answers: list[str]  # every gold answer text (the metric takes the best)
    answer_starts: list[int] = field(default_factory=list)  # character offsets in the context
    title: str = ""

    @property
    def answer_start(self) -> int:
        """Where the first answer starts: the one used for training."""
        return self.answer_starts[0]

    @property
    def answer_end(self) -> int:
        """One past the first answer's last character."""
        return self.answer_starts[0] + len(self.answers[0])


def squad_path(split: str = "squad_dev") -> Path:
    """The JSON file of a split (``squad_dev``, ``new_wiki``, ``nyt``, ``reddit``, ``amazon``) from the asset."""
    from bert_edu.data import assets

    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    return assets.get("squad") / SPLITS[split]


def _locate(context: str, text: str, start) -> int | None:
    """Where ``text`` stands in ``context``: at ``start`` if it does, else its occurrence nearest to ``start``
    (whitespace around the answer ignored); None if it occurs nowhere."""
    if isinstance(start, int) and context[start:start + len(text)] == text:
        return start
    text = text.strip()
    if not text:
        return None
    hits, at = [], context.find(text)
    while at != -1:
        hits.append(at)
        at = context.find(text, at + 1)
    if not hits:
        return None
    start = start if isinstance(start, int) else 0
    return min(hits, key=lambda h: (abs(h - start), h))


def _read_json(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: no such file. Pass a SQuAD v1.1 JSON file, e.g. "
                        "bert_edu.data.squad.squad_path('squad_dev') (python -m bert_edu.assets download squad)")
    try:
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise DataError(f"{path} is empty; {FORMAT_HINT}")
        return json.loads(text)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); {FORMAT_HINT}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
                        f"{FORMAT_HINT}") from None


def _question(path, where: str, qa, context: str, title: str) -> tuple[SquadExample, int]:
    """One question -> (example, number of answers that had to be repaired)."""
    if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or not isinstance(qa.get("answers"),
                                                                                                 list):
        raise DataError(f"{path}: {where} is not a question with 'question' and 'answers'; {FORMAT_HINT}")
    qid = str(qa.get("id", where))
    if not qa["question"].strip():
        raise DataError(f"{path}: question {qid} ({where}) is empty; remove it or write the question")
    if not qa["answers"]:
        raise DataError(f"{path}: question {qid} ({where}) has no answer. SQuAD v1.1 needs at least one "
                        "(unanswerable questions are SQuAD 2.0, which this course does not train)")
    texts, starts, moved = [], [], 0
    for k, answer in enumerate(qa["answers"]):
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            raise DataError(f"{path}: {where}.answers[{k}] has no 'text'; {FORMAT_HINT}")
        at = _locate(context, text, answer.get("answer_start"))
        if at is None:
            raise DataError(f"{path}: the answer {text[:60]!r} of question {qid} ({where}) is not in its "
                            "context. An extractive answer must be a piece of the context: fix the answer "
                            "text or the context")
        fixed = text if context[at:at + len(text)] == text else text.strip()
        moved += at != answer.get("answer_start") or fixed != text
        text = fixed
        texts.append(text)
        starts.append(at)
    return SquadExample(qid, qa["question"], context, texts, starts, title), moved


def read_squad(path, with_report: bool = False):
    """All questions of a SQuAD v1.1 file, in file order, as :class:`SquadExample`.

    ``with_report=True`` also returns ``{"repaired_answers": n}``: answers found away from their recorded
    ``answer_start`` or with whitespace around them (see the module docstring)."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: no top-level 'data' list; {FORMAT_HINT}")
    examples, moved = [], 0
    for i, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: data[{i}] has no 'paragraphs' list; {FORMAT_HINT}")
        for j, paragraph in enumerate(paragraphs):
            where = f"data[{i}].paragraphs[{j}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) \
                    or not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{path}: {where} needs a 'context' string and a 'qas' list; {FORMAT_HINT}")
            for k, qa in enumerate(paragraph["qas"]):
                example, n = _question(path, f"{where}.qas[{k}]", qa, paragraph["context"],
                                       str(article.get("title", "")))
                examples.append(example)
                moved += n
    if not examples:
        raise DataError(f"{path}: the file holds no question; {FORMAT_HINT}")
    return (examples, {"repaired_answers": moved}) if with_report else examples


def write_squad(examples, path) -> Path:
    """Write examples as a SQuAD v1.1 file (one paragraph per distinct context, in order), e.g. a sample."""
    articles: dict = {}
    for ex in examples:
        paragraphs = articles.setdefault(ex.title, {})
        paragraph = paragraphs.setdefault(ex.context, {"context": ex.context, "qas": []})
        paragraph["qas"].append({"id": ex.id, "question": ex.question, "answers": [
            {"text": t, "answer_start": s} for t, s in zip(ex.answers, ex.answer_starts)]})
    data = {"version": "1.1", "data": [{"title": title, "paragraphs": list(paragraphs.values())}
                                       for title, paragraphs in articles.items()]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def gold_answers(examples) -> dict:
    """question id -> the gold answer texts (what :func:`bert_edu.evaluation.squad.squad_scores` takes)."""
    return {ex.id: list(ex.answers) for ex in examples}


# ------------------------------------------------------------------------------------------------ features


def tokenize_windows(tokenizer, examples, max_length: int = 384, stride: int = 128) -> list[dict]:
    """``[CLS] question [SEP] context window [SEP]`` for every window of every example.

    Each feature: ``input_ids``, ``token_type_ids``, ``example`` (index into ``examples``) and
    ``offsets``: for each token, its ``(start, end)`` characters in the context, or None outside the context
    (question, special tokens)."""
    try:
        enc = tokenizer([ex.question for ex in examples], [ex.context for ex in examples],
                        truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
    except ValueError as err:
        raise DataError(f"cannot cut the contexts into windows of {max_length} tokens with a stride of "
                        f"{stride} ({err}); use a larger max length or a smaller stride") from None
    features = []
    for row, example in enumerate(enc["overflow_to_sample_mapping"]):
        types = enc["token_type_ids"][row]
        offsets = [tuple(o) if t == 1 and o[1] > o[0] else None
                   for o, t in zip(enc["offset_mapping"][row], types)]  # the final [SEP] has (0, 0)
        features.append({"input_ids": enc["input_ids"][row], "token_type_ids": types,
                         "offsets": offsets, "example": example})
    return features


def answer_positions(offsets, start_char: int, end_char: int) -> tuple[int, int]:
    """Token indices of the first and last token of the answer ``[start_char, end_char)`` in one window;
    ``(0, 0)`` ([CLS]) when the window does not hold the whole answer."""
    inside = [i for i, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > start_char)  # first token that ends after the start
    end = next(i for i in reversed(inside) if offsets[i][0] < end_char)  # last token starting before the end
    return start, end


def train_features(tokenizer, examples, max_length: int = 384, stride: int = 128,
                   drop_unanswered: bool = False) -> list[dict]:
    """Windows with ``start_positions`` / ``end_positions`` of the first gold answer (0, 0 = not in this
    window). ``drop_unanswered=True`` keeps only the windows that hold the answer."""
    features = tokenize_windows(tokenizer, examples, max_length, stride)
    out = []
    for f in features:
        ex = examples[f["example"]]
        start, end = answer_positions(f["offsets"], ex.answer_start, ex.answer_end)
        if drop_unanswered and start == 0:
            continue
        out.append({**f, "start_positions": start, "end_positions": end})
    return out
