"""Cloze QA built from the course's own assets (bert_edu.data.cloze_qa): the rule on hand-made documents, the
CoNLL document reader, and the three real domains (counts, every answer a piece of its context, the SQuAD file
round trip)."""

import json

import pytest

from bert_edu.data import cloze_qa
from bert_edu.data.squad import read_squad

DOC = ["Gustave Eiffel built the tower in 1889 for the World's Fair.",
       "The tower was painted by workers of Eiffel in 1889 and again later.",
       "Visitors climb many steps to reach the top of the tower today."]


def spans(sentences):
    return [cloze_qa.text_candidates(s) for s in sentences]


def test_candidates_are_names_and_numbers_not_sentence_openers():
    s = "In the United States, The Beatles met John Lennon in 1957."
    assert [s[a:b] for a, b in cloze_qa.text_candidates(s)] == ["United States", "Beatles", "John Lennon", "1957"]
    assert cloze_qa.text_candidates("He said it was over.") == []


def test_one_question_per_sentence_answered_by_the_rest_of_the_document():
    examples = cloze_qa.cloze_examples([("Tower", DOC, spans(DOC))], "t")
    assert [ex.id for ex in examples] == ["t-0-0", "t-0-1"]  # the third sentence shares no name or number
    first, second = examples
    # "Gustave Eiffel" and "World's Fair" occur nowhere else; "1889" does
    assert first.question == "Gustave Eiffel built the tower in _____ for the World's Fair."
    assert first.answers == ["1889"] and first.answer_starts == [first.context.index("1889")]
    for ex in examples:
        assert DOC[int(ex.id.rsplit("-", 1)[1])] not in ex.context  # the question's sentence is not in its context
        for text, start in zip(ex.answers, ex.answer_starts):
            assert ex.context[start:start + len(text)] == text
    # "Eiffel" (6) is longer than "1889" (4): the longest candidate that occurs again is blanked
    assert second.question == "The tower was painted by workers of _____ in 1889 and again later."
    assert second.answers == ["Eiffel"] and second.context.startswith("Gustave Eiffel")


def test_whole_words_only_and_short_questions_dropped():
    doc = ["Parisians love the Eiffelturm view of the city.", "Eiffel designed it for the fair in Paris."]
    assert cloze_qa.cloze_examples([("x", doc, spans(doc))], "t") == []  # "Eiffel" is not a word of "Eiffelturm"
    doc = ["Eiffel designed the tower for the fair.", "Eiffel designed it."]
    assert [ex.id for ex in cloze_qa.cloze_examples([("x", doc, spans(doc))], "t")] == ["t-0-0"]  # 3 words: no
    one = ["Short one.", "A single sentence document is never asked about."]
    assert cloze_qa.cloze_examples([("x", one[1:], spans(one[1:]))], "t") == []


def test_conll_documents_keep_entity_spans(tmp_path):
    path = tmp_path / "mini.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nSmith NNP I-NP I-PER\nwon VBD B-VP O\n. . O O\n\n"
                    "Smith NNP B-NP B-PER\nthanked VBD B-VP O\nthe DT B-NP O\nfans NNS I-NP O\nof IN B-PP O\n"
                    "New NNP B-NP B-LOC\nYork NNP I-NP I-LOC\n. . O O\n\n"
                    "-DOCSTART- -X- -X- O\n\nRome NNP B-NP B-LOC\n. . O O\n", encoding="utf-8")
    docs = cloze_qa.conll_documents(path)
    assert [d[0] for d in docs] == ["mini-0", "mini-1"]
    title, sentences, entity_spans = docs[0]
    assert sentences == ["John Smith won .", "Smith thanked the fans of New York ."]
    names = [[s[a:b] for a, b in sp] for s, sp in zip(sentences, entity_spans)]
    assert names == [["John Smith"], ["Smith", "New York"]]
    (ex,) = [e for e in cloze_qa.cloze_examples(docs, "n") if e.answers == ["Smith"]]
    assert ex.question == "_____ thanked the fans of New York ." and ex.context == "John Smith won ."
    assert ex.answer_starts == [5]


def test_unknown_domain():
    with pytest.raises(ValueError, match="wiki, news, plots"):
        cloze_qa.cloze_path("reddit")


def test_real_domains_from_the_pinned_assets():
    counts = {}
    for domain in cloze_qa.DOMAINS:
        examples = read_squad(cloze_qa.cloze_path(domain))
        counts[domain] = len(examples)
        assert len({ex.id for ex in examples}) == len(examples)
        for ex in examples:
            assert ex.question.count(cloze_qa.BLANK) == 1 and len(set(ex.answers)) == 1
            assert all(ex.context[s:s + len(t)] == t for t, s in zip(ex.answers, ex.answer_starts))
        assert json.loads(cloze_qa.cloze_path(domain).read_text(encoding="utf-8"))["version"] == "1.1"
    assert counts == {"wiki": 12607, "news": 983, "plots": 2720}
