"""The prose-number rule (CONTRIBUTING.md, "Numbers in prose"): every figure of a run quoted in a notebook's
markdown (a number with %, x, s, ms, min, kB, MB, GB, nats, ...) must appear in a cell output of the same
notebook (or in the running time ``make notebooks`` records in its metadata), unless its sentence marks it as a
citation: a markdown link, an author-year reference such as
"(Devlin et al., 2019)" or "Clark et al. (2019)", or an explicit ``[cite: where it comes from]``.
Numbers inside `inline code`, code blocks and HTML comments (exercise solutions) are not prose.

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

UNITS = r"%|×|x|s|ms|µs|min|mins|minutes?|seconds?|h|hours?|kB|KB|MB|GB|GiB|MiB|nats"
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
    if re.search(r"(?<![\d.,])" + re.escape(number) + r"(?![\d])(?!\.\d)", printed):
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
