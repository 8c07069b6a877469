"""bert_edu.course.learner: later notebooks reach the classes of earlier ones through ``chapter("NN")``.

The mechanism (export cells read from the saved notebook, each piece checked, the reference where it fails, a note
that says so) on small temporary notebooks, then the tie that keeps the course honest: every class the real
notebooks 02-05 export passes its check against the package's reference, so there is no second copy that drifts.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bert_edu.course import learner
from bert_edu.course import student_edition as se
from bert_edu.model import attention as ref_attention
from bert_edu.model import embeddings as ref_embeddings

ROOT = Path(__file__).resolve().parent.parent

EMBEDDINGS = textwrap.dedent('''
    #| export
    import torch
    from torch import nn


    class BertEmbeddings(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

        def forward(self, input_ids, token_type_ids=None):
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            x = x + POSITIONS * self.position_embeddings(torch.arange(input_ids.shape[1]))
            return self.dropout(self.LayerNorm(x))
''')


def write_notebook(folder: Path, name: str, *sources: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cells = [new_markdown_cell("# a learner's notebook")] + [new_code_cell(s.strip("\n")) for s in sources]
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_exported_class_that_passes_is_the_learners(tmp_path, capsys):
    write_notebook(tmp_path, "02_embeddings", EMBEDDINGS.replace("POSITIONS", "1"),
                   "print('not exported: never run')\nraise RuntimeError('a cell without #| export')")
    ch = learner.chapter("02", tmp_path)
    out = capsys.readouterr().out
    assert ch.BertEmbeddings is not ref_embeddings.BertEmbeddings
    assert ch.BertEmbeddings.__module__ == "learner_ch02"
    assert ch.yours == ["BertEmbeddings"] and ch.reference == []
    assert "chapter 02: yours from 02_embeddings.ipynb: BertEmbeddings" in out and "Note" not in out


@pytest.mark.parametrize("body, why", [
    (EMBEDDINGS.replace("POSITIONS", "0"), "does not pass its check yet"),  # forgot the positions
    (se.replace_solutions(EMBEDDINGS.replace("        def forward", "        ### END SOLUTION\n        def forward")
                          .replace("            super().__init__()\n",
                                   "            super().__init__()\n            ### BEGIN SOLUTION\n"))[0],
     "does not pass its check yet"),  # the student edition: __init__ raises NotImplementedError
    ("#| export\nimport torch\n", "is not in an exported cell"),
])
def test_a_class_that_fails_falls_back_to_the_reference_with_a_note(tmp_path, capsys, body, why):
    write_notebook(tmp_path, "02_embeddings", body)
    ch = learner.chapter("02", tmp_path)
    out = capsys.readouterr().out
    assert ch.BertEmbeddings is ref_embeddings.BertEmbeddings
    assert ch.reference == ["BertEmbeddings"]
    assert f"Note: your `BertEmbeddings` in 02_embeddings.ipynb {why}" in out
    assert "bert_edu.model.embeddings.BertEmbeddings" in out and "check_bert_embeddings(BertEmbeddings)" in out
    assert len([line for line in out.splitlines() if line.startswith("Note:")]) == 1  # one line per piece


def test_a_cell_that_raises_is_reported_and_the_rest_still_loads(tmp_path, capsys):
    write_notebook(tmp_path, "02_embeddings", EMBEDDINGS.replace("POSITIONS", "1"),
                   "#| export\nundefined_name + 1")
    ch = learner.chapter("02", tmp_path)
    out = capsys.readouterr().out
    assert "cell 2 of 02_embeddings.ipynb raised NameError" in out
    assert ch.yours == ["BertEmbeddings"]


def test_a_failing_piece_is_replaced_inside_its_chapter_too(tmp_path, capsys):
    """Chapter 03 with a wrong BertSelfAttention: the learner's BertAttention is kept and uses the reference."""
    source = (ROOT / "notebooks" / "03_attention.ipynb")
    cells = [s for _, s in learner.export_cells(source)]
    broken = [s.replace("/ math.sqrt(d)", "") for s in cells]  # attention without the 1/sqrt(d_k)
    write_notebook(tmp_path, "03_attention", *broken)
    ch = learner.chapter("03", tmp_path)
    out = capsys.readouterr().out
    assert ch.attention.__module__ == "bert_edu.exercises.attention"  # the reference stands in
    assert "BertAttention" in ch.yours and ch.BertAttention.__module__ == "learner_ch03"
    assert "your `attention` in 03_attention.ipynb does not pass its check yet" in out


def test_later_chapters_import_earlier_ones_from_the_same_folder(tmp_path, capsys):
    for number in ("02", "03", "04", "05"):
        name = learner.CHAPTERS[number][0]
        cells = [s for _, s in learner.export_cells(ROOT / "notebooks" / f"{name}.ipynb")]
        write_notebook(tmp_path, name, *cells)
    ch05 = learner.chapter("05", tmp_path)
    capsys.readouterr()
    assert ch05.yours == ["BertPooler", "BertModel"]
    model = ch05.BertModel(learner_config())
    assert type(model.encoder).__module__ == "learner_ch04"
    assert type(model.encoder.layer[0].attention).__module__ == "learner_ch03"
    assert type(model.embeddings).__module__ == "learner_ch02"


def learner_config():
    from bert_edu.exercises._modules import tiny_config
    return tiny_config()


def test_checks_leave_the_random_state_alone(tmp_path, capsys):
    write_notebook(tmp_path, "02_embeddings", EMBEDDINGS.replace("POSITIONS", "1"))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    learner.chapter("02", tmp_path, quiet=True)
    assert torch.equal(torch.rand(3), expected)
    assert capsys.readouterr().out == ""


def test_where_the_notebooks_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert learner.notebooks_dir() == ROOT / "notebooks"  # no course notebooks here
    write_notebook(tmp_path, "02_embeddings", EMBEDDINGS.replace("POSITIONS", "1"))
    assert learner.notebooks_dir() == tmp_path  # a notebook runs from its own folder (Jupyter, nbval)
    monkeypatch.setenv("BERT_EDU_NOTEBOOKS", str(ROOT / "notebooks"))
    assert learner.notebooks_dir() == ROOT / "notebooks"


def test_bad_requests_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="chapters with modules are"):
        learner.chapter("07", tmp_path)
    with pytest.raises(FileNotFoundError, match="BERT_EDU_NOTEBOOKS"):
        learner.chapter("02", tmp_path)


# --- the course's own notebooks: no second copy that drifts ----------------------------------------------

@pytest.mark.parametrize("number", sorted(learner.CHAPTERS))
def test_every_class_the_notebooks_export_passes_against_the_package(number):
    ch = learner.chapter(number, ROOT / "notebooks", quiet=True)
    expected = [name for name, _, _ in learner.CHAPTERS[number][1]]
    assert ch.notes == [], ch.notes
    assert ch.yours == expected and ch.reference == []


def test_the_student_edition_falls_back_everywhere(tmp_path, capsys):
    for number, (name, pieces) in learner.CHAPTERS.items():
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        nbformat.write(se.make_student_notebook(nb, name)[0], tmp_path / f"{name}.ipynb")
    for number, (name, pieces) in learner.CHAPTERS.items():
        ch = learner.chapter(number, tmp_path)
        out = capsys.readouterr().out
        assert ch.yours == [], (number, ch.yours)
        assert out.count("does not pass its check yet") == len(pieces)


def test_the_model_of_notebook_05_matches_the_package():
    """The learner's BertModel (notebook 05, on the classes of 02-04) computes what the package computes."""
    from bert_edu.model.bert import BertModel

    config = learner_config()
    ours = learner.chapter("05", ROOT / "notebooks", quiet=True).BertModel(config).eval()
    package = BertModel(config).eval()
    ours.load_state_dict(package.state_dict(), strict=True)
    ids = torch.tensor([[2, 7, 9, 4, 3, 0], [2, 5, 3, 8, 3, 11]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a, b = ours(ids, mask), package(ids, mask)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.pooler_output, b.pooler_output, atol=1e-5, rtol=0)
    assert ref_attention.BertSelfAttention is not type(ours.encoder.layer[0].attention.self)
