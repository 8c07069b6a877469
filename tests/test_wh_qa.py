"""bert_edu.data.wh_qa: rule-made wh-questions (the training data of notebook 11's demo model)."""

import random

from bert_edu.data import wh_qa

CONLL = ("-DOCSTART- -X- -X- O\n\n"
         "Gustave NNP B-NP B-PER\nEiffel NNP I-NP I-PER\ndesigned VBD B-VP O\nthe DT B-NP O\nnew JJ I-NP O\n"
         "tower NN I-NP O\nin IN B-PP O\nParis NNP B-NP B-LOC\nin IN B-PP O\n1889 CD B-NP O\n, , O O\n"
         "officials NNS B-NP O\nsaid VBD B-VP O\non IN B-PP O\nMonday NNP B-NP O\n. . O O\n\n"
         "The DT B-NP O\nfirm NN I-NP O\nhired VBD B-VP O\n300 CD B-NP O\nworkers NNS I-NP O\nfor IN B-PP O\n"
         "the DT B-NP O\nbig JJ I-NP O\nproject NN I-NP O\nover IN B-PP O\nthere RB B-ADVP O\n. . O O\n\n"
         "-DOCSTART- -X- -X- O\n\nScores NNS B-NP O\n: : O O\n\n")


def test_detokenize_glues_punctuation_and_keeps_word_starts():
    text, starts = wh_qa.detokenize(["He", "said", "(", "twice", ")", "it", "'s", "done", "."])
    assert text == "He said (twice) it's done."
    assert [text[s:s + len(w)] for s, w in zip(starts, ["He", "said", "(", "twice", ")", "it", "'s", "done", "."])] \
        == ["He", "said", "(", "twice", ")", "it", "'s", "done", "."]


def test_answer_types_choose_the_wh_word():
    words = "Gustave Eiffel designed the new tower in Paris in 1889 , officials said on Monday .".split()
    tags = ["B-PER", "I-PER"] + ["O"] * 5 + ["B-LOC"] + ["O"] * 8
    pos = ["NNP", "NNP", "VBD", "DT", "JJ", "NN", "IN", "NNP", "IN", "CD", ",", "NNS", "VBD", "IN", "NNP", "."]
    spans = wh_qa._typed_spans(words, tags, pos)
    found = {" ".join(words[a:b]): wh_qa.WH_BY_TYPE[kind] for a, b, kind in spans}
    assert found == {"Gustave Eiffel": "who", "Paris": "where", "1889": "when", "Monday": "when"}
    count = wh_qa._typed_spans(["hired", "300", "workers"], ["O"] * 3, ["VBD", "CD", "NNS"])
    assert count == [(1, 2, "COUNT")]
    misc = wh_qa._typed_spans(["German", "beer", "at", "Oktoberfest"], ["B-MISC", "O", "O", "B-MISC"],
                              ["JJ", "NN", "IN", "NNP"])
    assert misc == [(3, 4, "MISC")]  # "German" (an adjective) names no thing to ask "what" about


def test_noisy_question_drops_the_answer_and_starts_with_the_wh_word():
    rng = random.Random(0)
    for _ in range(50):
        q = wh_qa.noisy_question("It is named after the engineer".split(), ", whose company built it .".split(),
                                 "who", rng)
        assert q.startswith("who ") and q.endswith("?") and q == q.lower()
        assert "eiffel" not in q and "," not in q
        assert set(q[4:-1].split()) <= set("it is named after the engineer whose company built".split())
    assert wh_qa.noisy_question([], ["."], "when", rng) is None  # nothing left to ask with


def test_news_questions_locate_their_answers_in_a_context_that_holds_the_sentence(tmp_path):
    path = tmp_path / "mini.txt"
    path.write_text(CONLL, encoding="utf-8")
    examples = wh_qa.news_questions(path=path, seed=0)
    assert len(examples) == 2  # one per sentence of at least 8 words; "Scores :" is too short
    for ex in examples:
        assert ex.context.startswith("Gustave Eiffel designed the new tower in Paris in 1889, officials said")
        assert all(ex.context[s:s + len(a)] == a for a, s in zip(ex.answers, ex.answer_starts))
        assert ex.title == "mini-0"
    first, second = examples
    kind = {"Gustave Eiffel": "who", "Paris": "where", "1889": "when", "Monday": "when"}[first.answers[0]]
    assert first.question.split()[0] == kind
    assert second.answers == ["300"] and second.question.startswith("how many ")


def test_wiki_questions_ask_when_about_years_and_skip_excluded_articles():
    entries = [{"title": "Tower", "extract": "The tower was built in 1889 by a company from the city of Paris. "
                                             "It is the most visited monument of its kind."},
               {"title": "Held out", "extract": "The bridge was opened in 1937 after four years of hard work."}]
    examples = wh_qa.wiki_questions(entries, exclude_titles={"Held out"})
    assert len(examples) == 1
    (ex,) = examples
    assert ex.answers == ["1889"] and ex.question.startswith("when ") and "1889" not in ex.question
    assert ex.context[ex.answer_starts[0]:ex.answer_starts[0] + 4] == "1889"


def test_documents_are_grouped_by_docstart_lines(tmp_path):
    from bert_edu.data.conll import read_documents

    path = tmp_path / "mini.txt"
    path.write_text(CONLL + "-DOCSTART- -X- -X- O\n\n", encoding="utf-8")
    docs = read_documents(path)
    assert [len(d) for d in docs] == [2, 1, 0]  # the last -DOCSTART- has no sentence
    assert docs[1][0].words == ["Scores", ":"]
