"""The prose-number rule (CONTRIBUTING.md, "Numbers in prose"): every figure of a run quoted in a notebook's
markdown (a number with %, x, s, ms, min, kB, MB, GB, nats, ...) must appear in a cell output of the same
notebook (or in the running time ``make notebooks`` records in its metadata), unless its sentence marks it as a
citation: a markdown link, an author-year reference such as
"(Devlin et al., 2019)" or "Clark et al. (2019)", or an explicit ``[cite: where it comes from]``.
Numbers inside `inline code`, code blocks and HTML comments (exercise solutions) are not prose.

Since issue 26 the rule is stricter (test_every_quoted_figure_is_printed_where_it_is_described): a figure must be
printed by the cells its markdown describes (the code cells right before and after it; the header, Summary and
Exercises describe the whole notebook), or name a results key (`[results: file.json key]`); "points" count as a unit;
a claim word next to a comparison ("beats", "better than", "worse than", "no better than", "far ahead/longer",
"within the noise") must agree with an interval or a True/False verdict printed there
(test_claim_words_agree_with_printed_verdicts); and facts one notebook states about another are checked against
their source of truth (notebook 07's vocabulary and corpus, which notebook writes which class). Each of these
checks is shown to fail on an audited example by a small fixture at the end of this file.

Matching: the number as written (``81.3`` for "81.3%") must occur in an output, not as part of a longer
number; a percentage may also be printed as a fraction (``48%`` <- ``0.48``); after "about", "~", "almost",
"nearly", "roughly", "over", "under" or "around" the quoted figure may be a rounding of a printed number.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))

UNITS = r"points?|%|×|x|s|ms|µs|min|mins|minutes?|seconds?|h|hours?|kB|KB|MB|GB|GiB|MiB|nats"
FIGURE = re.compile(
    r"(?P<approx>(?:about|~|≈|almost|nearly|roughly|around|over|under|some)\s*)?"
    r"(?<![\w.,/-])(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?(?P<unit>" + UNITS + r")(?![\w])",
    re.IGNORECASE)
CITATION = re.compile(
    r"\[cite:[^\]]*\]"                                   # explicit marker
    r"|\[[^\]]+\]\(https?://[^)]+\)"                     # a link to a source on the web
    r"|\b[A-Z][\w-]+(?: et al\.| and [A-Z][\w-]+)?,? \(?(?:19|20)\d\d[a-z]?\)?"  # Devlin et al., 2019 / (2019)
)
CONFIDENCE_LEVEL = re.compile(r"\s*(?:\w+\s+)?(?:confidence|intervals?|CIs?|credible)\b", re.IGNORECASE)
NOT_PROSE = re.compile(r"<!-- ### BEGIN SOLUTION -->.*?<!-- ### END SOLUTION -->|```.*?```|`[^`\n]*`|<!--.*?-->",
                       re.DOTALL)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*(`\[\"'])|\n\s*\n|\n(?=\s*(?:[-*|]|\d+\.)\s)")
NUMBER_IN_OUTPUT = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.])\d*\.?\d+(?:[eE][-+]?\d+)?")


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def output_text(nb: dict) -> str:
    """Everything the notebook's code cells printed or displayed as text (stream, text/plain, text/html), and the
    running times that `make notebooks` recorded in the notebook's metadata (the header's Time row)."""
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append("".join(out.get("text", "")))
            data = out.get("data", {})
            for mime in ("text/plain", "text/markdown", "text/html"):
                if mime in data:
                    value = data[mime]
                    parts.append("".join(value) if isinstance(value, list) else value)
    parts.append(json.dumps(nb.get("metadata", {}).get("bert_edu", {})))  # the times `make notebooks` recorded
    return "\n".join(parts)


def quoted_figures(markdown: str):
    """(sentence, number, unit, approximate) for each figure with a unit in the prose, citations excluded."""
    prose = NOT_PROSE.sub(" ", markdown)
    for sentence in SENTENCE_END.split(prose):
        if CITATION.search(sentence):
            continue
        for m in FIGURE.finditer(sentence):
            number, unit = m["number"], m["unit"]
            if unit == "x" and m.group(0)[-2].isspace():
                continue  # "32 x 12" is a product; a ratio is written "1.04x"
            if unit == "%" and CONFIDENCE_LEVEL.match(sentence, m.end()):
                continue  # "a 95% interval" names a convention, not a result
            yield sentence.strip(), number, unit, bool(m["approx"])


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def is_printed(number: str, unit: str, approximate: bool, printed: str, printed_values: list[float]) -> bool:
    if re.search(r"(?<![\d.,])" + re.escape(number) + r"(?![\d])(?!\.\d)(?!,\d{3})", printed):
        return True
    value = float(number.replace(",", ""))
    candidates = [value]
    if unit == "%":
        candidates.append(value / 100)
    for target in candidates:
        digits = _decimals(number) + (2 if target is not value else 0)
        for v in printed_values:
            if approximate and round(v, digits) == round(target, digits):
                return True
            if not approximate and target is not value and f"{v:.{digits}f}" == f"{target:.{digits}f}" \
                    and abs(v - target) < 10 ** -digits / 2 + 1e-12:
                return True
    return False


def unprinted_figures(nb: dict) -> list[tuple[str, str]]:
    """The figures quoted in markdown that no output of the notebook shows: [(figure, sentence)]."""
    printed = output_text(nb)
    values = []
    for token in NUMBER_IN_OUTPUT.findall(printed):
        try:
            values.append(float(token.replace(",", "")))
        except ValueError:
            pass
    missing = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for sentence, number, unit, approximate in quoted_figures(_source(cell)):
            if not is_printed(number, unit, approximate, printed, values):
                missing.append((f"{number}{unit}", sentence[:160]))
    return missing


def described_scope(nb: dict, index: int) -> dict:
    """The cells a markdown cell describes: the code cells right before it and right after it (up to the next
    markdown cell on each side). The notebook's header (its first cell) and its Summary and Exercises sections
    describe the whole notebook."""
    cells = nb["cells"]
    in_summary = any(re.search(r"(?m)^#+ (Summary|Exercises)\b", _source(c)) for c in cells[:index + 1]
                     if c["cell_type"] == "markdown")
    if index == 0 or in_summary:
        return {"cells": cells, "metadata": nb.get("metadata", {}), "whole": True}
    scope = []
    for step in (-1, 1):
        j = index + step
        while 0 <= j < len(cells) and cells[j]["cell_type"] == "code":
            scope.append(cells[j])
            j += step
    return {"cells": scope, "metadata": nb.get("metadata", {}), "whole": False}


def scope_text(scope: dict) -> str:
    """What the described cells printed, plus their code (a setting written in the code the prose describes, such
    as `max_length=256`, may be quoted) and the recorded running times."""
    text = output_text(scope)
    if not scope["whole"]:
        text += "\n" + "\n".join(_source(c) for c in scope["cells"])
    return text


def _values(printed: str) -> list[float]:
    values = []
    for token in NUMBER_IN_OUTPUT.findall(printed):
        try:
            values.append(float(token.replace(",", "")))
        except ValueError:
            pass
    return values


def unprinted_where_described(nb: dict) -> list[tuple[str, str]]:
    """Stricter than unprinted_figures: each figure must be printed by the cells its markdown cell describes
    (described_scope), not by any cell of the notebook. A figure that names a results file, e.g.
    `[results: learning_curve.json runs]`, is checked by tests/test_results_in_readme.py instead."""
    missing = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        printed = scope_text(described_scope(nb, i))
        values = _values(printed)
        # a heading names a section (e.g. "Masking: 15%, then 80/10/10"); it reports no run
        for sentence, number, unit, approximate in quoted_figures(re.sub(r"(?m)^#.*$", " ", _source(cell))):
            if RESULTS_KEY.search(sentence):
                continue
            if not is_printed(number, unit, approximate, printed, values):
                missing.append((f"{number}{unit}", sentence[:160]))
    return missing


RESULTS_KEY = re.compile(r"\[results: [\w.-]+\.json [^\]]+\]")

# A claim word next to a comparison, and the printed verdicts it must agree with.
NULL_CLAIM = re.compile(r"\b(?:no better than|within (?:the )?noise|not distinguishable|indistinguishable|is a tie)\b",
                        re.IGNORECASE)
EFFECT_CLAIM = re.compile(r"(?<!to )(?<!would )(?<!must )\b(?:beats?|beating|better than|worse than|far (?:ahead|longer|better|"
                          r"worse|beyond)|most of all|significantly)\b", re.IGNORECASE)
INTERVAL = re.compile(r"([-+\u2212]?\d+(?:\.\d+)?)\s*(?:±|\+-|\+/-)\s*(\d+(?:\.\d+)?)")


def verdicts(printed: str) -> dict:
    """What the printed lines say: intervals that exclude 0, intervals that contain it, True/False verdicts."""
    found = {"excludes_zero": 0, "contains_zero": 0, "true": 0, "false": 0}
    for line in printed.splitlines():
        for m in INTERVAL.finditer(line):
            mean, half = float(m[1].replace("\u2212", "-")), float(m[2])
            found["excludes_zero" if abs(mean) > half else "contains_zero"] += 1
        if re.search(r"beyond the noise|:\s*True\b", line):
            found["true"] += 1
        if re.search(r"within the noise|not distinguishable|:\s*False\b", line, re.IGNORECASE):
            found["false"] += 1
    return found


def unsupported_claims(nb: dict) -> list[tuple[str, str]]:
    """Sentences whose claim word the printed verdicts of the cells they describe do not support: "no better than"
    / "within noise" needs an interval that contains 0 or a printed False; "beats" / "better than" / "worse than"
    / "far ..." needs an interval that excludes 0 or a printed True. Citations are exempt."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        found = None
        prose = NOT_PROSE.sub(" ", _source(cell))
        for sentence in SENTENCE_END.split(prose):
            if CITATION.search(sentence) or RESULTS_KEY.search(sentence):
                continue
            null, effect = NULL_CLAIM.search(sentence), EFFECT_CLAIM.search(sentence)
            if not (null or effect):
                continue
            if found is None:
                scope = described_scope(nb, i)
                found = verdicts(output_text(scope))
            if null and not (found["contains_zero"] or found["false"]):
                problems.append((null[0], sentence.strip()[:160]))
            elif effect and not null and not (found["excludes_zero"] or found["true"]):
                problems.append((effect[0], sentence.strip()[:160]))
    return problems


# ------------------------------------------------------------------------------------------------ the rule


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_quoted_figure_is_printed(path):
    missing = unprinted_figures(json.loads(path.read_text(encoding="utf-8")))
    assert not missing, f"{path.name}: figures in prose that no output prints (print them from a variable, or " \
        "mark a cited figure with [cite: source]):\n" + "\n".join(f"  {f}: {s!r}" for f, s in missing)


# ------------------------------------------------------------------------------------------------ the checker


def _notebook(markdown: str, output: str) -> dict:
    return {"cells": [
        {"cell_type": "code", "source": "print(x)", "outputs": [{"output_type": "stream", "name": "stdout",
                                                                 "text": output}]},
        {"cell_type": "markdown", "source": markdown},
    ]}


def test_fails_on_a_figure_no_output_prints():
    nb = _notebook("The model reaches 81.3% after 2.5 min.", "validation accuracy 81.2%, 150 s\n")
    assert [f for f, _ in unprinted_figures(nb)] == ["81.3%", "2.5min"]


def test_passes_when_the_output_prints_it():
    nb = _notebook("It reaches 81.2% in 150 s, a speed-up of 1.04x.", "accuracy 81.2% in 150 s (ratio 1.04)\n")
    assert unprinted_figures(nb) == []


def test_a_percentage_may_be_printed_as_a_fraction():
    assert unprinted_figures(_notebook("Half of it (48%) goes to [CLS].", "share 0.48\n")) == []
    assert unprinted_figures(_notebook("Half of it (49%) goes to [CLS].", "share 0.48\n")) != []


def test_part_of_a_longer_number_does_not_count():
    assert unprinted_figures(_notebook("It took 3 s.", "took 13.5 s\n")) != []
    assert unprinted_figures(_notebook("It took 1.0 s.", "took 1.04 s\n")) != []


def test_approximate_figures_may_round_a_printed_number():
    assert unprinted_figures(_notebook("It is about 20x faster.", "ratio 19.6\n")) == []
    assert unprinted_figures(_notebook("It is 20x faster.", "ratio 19.6\n")) != []


def test_citations_code_and_comments_are_exempt():
    md = ("BERT-base reaches 93.5% on SST-2 (Devlin et al., 2019). The paper trained 90% of its steps at length "
          "128 [cite: Devlin et al. 2019, section A.2]. See [the docs](https://example.org) for 20x. "
          "Run `sleep 5s` first.\n<!-- ### BEGIN SOLUTION -->\nabout 77%\n<!-- ### END SOLUTION -->")
    assert unprinted_figures(_notebook(md, "nothing here\n")) == []


def test_a_product_is_not_a_ratio():
    assert unprinted_figures(_notebook("It needs 12 MiB x 32 x 12 bytes.", "12 MiB\n")) == []
    assert [f for f, _ in unprinted_figures(_notebook("It is 3x faster.", "12\n"))] == ["3x"]


def test_a_confidence_level_is_not_a_figure():
    md = "Each accuracy comes with its 95% interval; 81.2% is ours."
    assert [f for f, _ in unprinted_figures(_notebook(md, "nothing\n"))] == ["81.2%"]


def test_citation_only_covers_its_own_sentence():
    md = "Clark et al. (2019) saw it in BERT-base. Ours puts 48% there."
    assert [f for f, _ in unprinted_figures(_notebook(md, "no numbers\n"))] == ["48%"]


def test_a_glossary_link_is_not_a_citation():
    md = "Training in [bf16](../docs/glossary.md#bf16) took 12 s."
    assert [f for f, _ in unprinted_figures(_notebook(md, "nothing\n"))] == ["12s"]


# ------------------------------------------------------------------------------------------------ glossary links

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glossary_links_point_at_an_entry(path):
    anchors = {_slug(line[4:]) for line in GLOSSARY.read_text(encoding="utf-8").splitlines()
               if line.startswith("### ")}
    nb = json.loads(path.read_text(encoding="utf-8"))
    links = {m for cell in nb["cells"] if cell["cell_type"] == "markdown"
             for m in re.findall(r"\]\(\.\./docs/glossary\.md#([^)]+)\)", _source(cell))}
    assert links <= anchors, f"{path.name} links to glossary entries that do not exist: {sorted(links - anchors)}"


# ------------------------------------------------------------------------------------------------ issue 26: the course


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_quoted_figure_is_printed_where_it_is_described(path):
    missing = unprinted_where_described(json.loads(path.read_text(encoding="utf-8")))
    assert not missing, f"{path.name}: figures that the cells their prose describes do not print (print them " \
        "there, name a results key with [results: file.json key], or cite them):\n" + \
        "\n".join(f"  {f}: {s!r}" for f, s in missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_claim_words_agree_with_printed_verdicts(path):
    problems = unsupported_claims(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}: claim words that no printed interval or verdict nearby supports:\n" + \
        "\n".join(f"  {w!r}: {s!r}" for w, s in problems)


# Facts one notebook states about another, checked against their source of truth.

VOCAB_OF_07 = re.compile(r"notebook 07[^.]*?(?:(\d+)k vocabulary|([\d,]+)-token vocabulary|vocabulary of ([\d,]+))"
                         r"|(?:(\d+)k vocabulary|([\d,]+)-token vocabulary)[^.]*?notebook 07", re.IGNORECASE)


def vocabulary_claims_about_07(markdown: str) -> list[int]:
    sizes = []
    for m in VOCAB_OF_07.finditer(NOT_PROSE.sub(" ", markdown)):
        k = m[1] or m[4]
        sizes.append(int(k) * 1000 if k else int((m[2] or m[3] or m[5]).replace(",", "")))
    return sizes


def _vocab_size_of_07() -> int:
    from bert_edu.train.pretrain import PretrainConfig

    vocab = PretrainConfig().vocab  # "corpus-4000": notebook 07's recipe (course_recipe) uses the default
    return int(vocab.split("-")[-1])


def test_vocabulary_said_of_notebook_07_is_its_recipe_s():
    size = _vocab_size_of_07()
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                for said in vocabulary_claims_about_07(_source(cell)):
                    assert said in (size, round(size / 1000) * 1000), \
                        f"{path.name} says notebook 07 uses a {said:,}-token vocabulary; its recipe uses {size:,}"


def test_the_vocabulary_check_fails_on_the_audited_sentence():
    """S3: 01 said "notebook 07 uses an 8k vocabulary"; 07 uses 4,000 tokens."""
    assert vocabulary_claims_about_07("That is the trade-off notebook 07 uses: an 8k vocabulary makes it small.") \
        == [8000]
    assert 8000 != _vocab_size_of_07()


def _printed(name: str) -> str:
    path = next(p for p in NOTEBOOKS if p.name.startswith(name))
    return output_text(json.loads(path.read_text(encoding="utf-8")))


def test_pretraining_corpus_size_is_the_same_in_00_and_07():
    said_00 = re.search(r"pretraining corpus: ([\d,]+) documents", _printed("00"))
    said_07 = re.search(r"([\d,]+) documents \(", _printed("07"))
    assert said_00 and said_07, "00 and 07 must each print the pretraining corpus's number of documents"
    assert said_00[1] == said_07[1], f"00 prints {said_00[1]} pretraining documents, 07 pretrains on {said_07[1]}"


def test_the_map_of_09_names_the_notebook_that_writes_each_class():
    """Which notebook writes which class: hf_bridge.NOTEBOOK_OF (09's map) against the learner's chapters."""
    from bert_edu.course.hf_bridge import NOTEBOOK_OF
    from bert_edu.course.learner import CHAPTERS

    written = {name: notebook for notebook, names in CHAPTERS.values() for name, _, _ in names}
    for name, notebook in NOTEBOOK_OF.items():
        if name in written:
            assert notebook == written[name], f"09's map says {name} is written in {notebook}; {written[name]} does"


def test_you_wrote_names_a_function_the_learner_writes():
    """09 said `additive_attention_mask` was "the function you wrote in notebook 03"; the learner wrote `attention`."""
    from bert_edu.course.learner import CHAPTERS

    written = {name: notebook for notebook, names in CHAPTERS.values() for name, _, _ in names}
    pattern = re.compile(r"`(?:[\w.]+\.)?(\w+)`, the (?:function|class) you wrote in notebook (\d\d)")
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                for name, number in pattern.findall(_source(cell)):
                    assert written.get(name, "").startswith(number), \
                        f"{path.name}: `{name}` is not written by the learner in notebook {number}"


# ------------------------------------------------------------------------------------------------ shown to fail


def _two_cells_apart(markdown: str, near: str, far: str) -> dict:
    """A notebook where `far` is printed by a cell the markdown does not describe and `near` by the one it does."""
    def code(text):
        return {"cell_type": "code", "source": "print(x)",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}
    return {"cells": [{"cell_type": "markdown", "source": "# 07\n"}, code(far),
                      {"cell_type": "markdown", "source": "## 5. Results"}, code(near),
                      {"cell_type": "markdown", "source": markdown}]}


def test_a_match_elsewhere_in_the_notebook_no_longer_counts():
    """U6: "around 70%" passed because the NSP loss 0.704 was printed in another section."""
    nb = _two_cells_apart("BERT-base reaches around 70% MLM accuracy.", "held-out MLM accuracy 13.1%\n",
                          "NSP loss 0.704\n")
    assert unprinted_figures(nb) == []  # the old rule is fooled
    assert [f for f, _ in unprinted_where_described(nb)] == ["70%"]
    nb = _two_cells_apart("notebook 07 makes it ~4x smaller.", "vocabulary 4,000\n", "4 -> 4 code points\n")
    assert [f for f, _ in unprinted_where_described(nb)] == ["4x"]  # S3


def test_points_are_figures():
    nb = _notebook("At 300 labels it costs 4 points beyond the noise.", "paired: -3.9 +- 0.8\n")
    assert [f for f, _ in unprinted_figures(nb)] == ["4points"]
    assert unprinted_figures(_notebook("It costs about 4 points.", "paired: -3.9 +- 0.8\n")) == []


def test_a_results_key_stands_for_a_printed_figure():
    nb = _notebook("Measured for this course: 5x smaller rates tie [results: learning_curve.json lr_selection].",
                   "nothing\n")
    assert unprinted_where_described(nb) == []


def test_no_better_than_fails_when_the_interval_says_worse():
    """W4: "no better than random" next to a printed -3.7 +- 1.8 (worse, beyond the noise)."""
    nb = _notebook("Gradient x input is no better than random here.",
                   "gradient x input minus random: -3.7 ± 1.8 points\n")
    assert [w for w, _ in unsupported_claims(nb)] == ["no better than"]
    nb = _notebook("Gradient x input is worse than random here.", "gradient x input minus random: -3.7 ± 1.8 points\n")
    assert unsupported_claims(nb) == []


def test_far_longer_fails_when_every_interval_contains_zero():
    """W3: pruning by importance "far longer than random" while it lies inside random's interval."""
    nb = _notebook("By importance it keeps the accuracy far longer than at random.",
                   "importance minus random, 18 heads: +3.2 ± 4.2\nimportance minus random, 36 heads: +2.1 ± 8.0\n")
    assert [w for w, _ in unsupported_claims(nb)] == ["far longer"]
