"""The package's house rules (issue 18): dependencies point one way, no import cycle (function-level imports
count), no function over 80 lines, no module named like a well-known package, the old public paths still work."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bert_edu"
# layer -> the layers it may import (issue 24: one direction, no exceptions). Bottom: model/ and text/ are leaves
# (stdlib + torch); data/ reads text/ (course_tokenizer) and model/config.py; train/ builds on those; analysis/
# on train/; exercises/ (the checkers and their references) on all of that; course/ (notebook tooling, the
# student edition, the grader, viz) sits on top and may import exercises/, never the other way round.
ALLOWED = {
    "model": {"model"},
    "text": {"text"},
    "data": {"data", "model", "text"},
    "evaluation": {"evaluation"},
    "train": {"train", "model", "data", "text", "evaluation"},
    "analysis": {"analysis", "train", "model", "data", "text", "evaluation"},
    "exercises": {"exercises", "train", "model", "data", "text", "evaluation", "analysis"},
    "course": {"course", "train", "model", "data", "text", "evaluation", "analysis", "exercises"},
}
SHADOWED = {"datasets", "tokenizers", "transformers", "evaluate", "torch", "accelerate", "safetensors"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every bert_edu module a file imports, at any depth in the file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bert_edu")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bert_edu"):
            found.add(node.module)
            for a in node.names:  # `from bert_edu.data import assets` imports the module bert_edu.data.assets
                if (PACKAGE.parent / (node.module.replace(".", "/") + f"/{a.name}.py")).exists():
                    found.add(f"{node.module}.{a.name}")
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        graph[_module_name(path)] = {m for m in _imports(path) if m != "bert_edu"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt in graph and nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None, f"import cycle: {' -> '.join(find_cycle(import_graph()))}"


def test_cycle_finder_finds_a_function_level_cycle(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from bert_edu.model import config\n    import bert_edu.train.common\n")
    assert _imports(src) == {"bert_edu.model", "bert_edu.model.config", "bert_edu.train.common"}


def wrong_edges(graph: dict[str, set[str]]) -> list[str]:
    """The imports that break ALLOWED, as 'module imports target (layer -> layer)'."""
    wrong = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        if layer is None:
            continue  # the top-level shims and the command may import anything
        for target in sorted(targets):
            other = _layer(target)
            if other is not None and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target} ({layer} -> {other})")
    return wrong


def test_dependencies_point_one_way():
    wrong = wrong_edges(import_graph())
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("source, edge", [
    ("from bert_edu.course import viz\n", "exercises -> course"),  # the back-edge issue 24 removed
    ("def f():\n    import bert_edu.course.learner\n", "exercises -> course"),  # function-level counts
], ids=["module-level", "function-level"])
def test_a_planted_back_edge_is_caught(tmp_path, source, edge):
    """The checker fails on a back-edge: a checker module that imports the course layer, written to a file."""
    planted = tmp_path / "bert_edu" / "exercises" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text(source)
    graph = {**import_graph(), "bert_edu.exercises.planted": _imports(planted)}
    caught = [w for w in wrong_edges(graph) if w.startswith("bert_edu.exercises.planted ")]
    assert caught and all(w.endswith(f"({edge})") for w in caught), caught
    del graph["bert_edu.exercises.planted"]
    assert not wrong_edges(graph)  # without the planted file the real package passes


@pytest.mark.parametrize("module, target", [
    ("bert_edu.text.wordpiece", "bert_edu.data.corpus"),  # text/ is a leaf
    ("bert_edu.data.corpus", "bert_edu.train.pretrain"),
    ("bert_edu.model.bert", "bert_edu.text.tokenizer"),
    ("bert_edu.train.pretrain", "bert_edu.course.viz"),
    ("bert_edu.analysis.attention_heads", "bert_edu.exercises.attention_maps"),
])
def test_each_upward_import_is_refused(module, target):
    assert wrong_edges({module: {target}}), f"{module} -> {target} should be refused"


@pytest.mark.parametrize("module, target", [
    ("bert_edu.data.corpus", "bert_edu.text.wordpiece"), ("bert_edu.course.learner", "bert_edu.exercises"),
    ("bert_edu.exercises.attention_maps", "bert_edu.analysis.attention_heads"),
    ("bert_edu.course.viz", "bert_edu.analysis.attention_heads"),
])
def test_the_downward_imports_are_allowed(module, target):
    assert not wrong_edges({module: {target}})


def test_text_is_a_leaf():
    """text/ (the tokenizer, notebook 01) imports nothing else of the package, so it can be read on its own."""
    leaks = {m: t for m, t in import_graph().items() if _layer(m) == "text" and any(_layer(x) != "text" for x in t)}
    assert not leaks, leaks


def test_the_package_does_not_reach_the_maintainer_tools():
    """tools/ (drawing the figures) is outside the package: nothing installed imports it, and it imports only
    public package paths."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "tools" or n.startswith("tools.") for n in names), path
    assert not (PACKAGE / "course" / "figures.py").exists(), "figures.py moved to tools/"
    assert (PACKAGE.parent / "tools" / "figures.py").is_file()


def test_no_function_over_80_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "\n".join(long)


def test_no_module_shadows_a_well_known_package():
    names = {p.stem for p in PACKAGE.rglob("*.py")} | {p.name for p in PACKAGE.rglob("*") if p.is_dir()}
    assert not names & SHADOWED


@pytest.mark.parametrize("old, new", [("pretrain", "train.pretrain"), ("finetune", "train.finetune"),
                                      ("predict", "train.predict"), ("assets", "data.assets"),
                                      ("student_edition", "course.student_edition"), ("viz", "course.viz")])
def test_old_module_paths_are_the_new_modules(old, new):
    assert importlib.import_module(f"bert_edu.{old}") is importlib.import_module(f"bert_edu.{new}")


def test_public_names():
    import bert_edu
    from bert_edu.exercises import check_attention  # noqa: F401

    for name in ("BertTokenizer", "BertConfig", "BertModel", "BertForPreTraining", "BertForSequenceClassification",
                 "BertForMaskedLM", "train_wordpiece"):
        assert getattr(bert_edu, name).__name__ == name


@pytest.mark.parametrize("command", ["info", "assets", "data", "pretrain", "finetune", "predict", "student"])
def test_bert_edu_command_lists_and_runs_subcommands(command):
    out = subprocess.run([sys.executable, "-m", "bert_edu", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and command in out.stdout
    sub = subprocess.run([sys.executable, "-m", "bert_edu", command, "--help"], capture_output=True, text=True)
    assert sub.returncode == 0 and "usage:" in sub.stdout, sub.stderr


SHIMS_AND_PLUMBING = {"_alias", "__main__", "assets", "pretrain", "finetune", "predict", "student_edition", "viz",
                      "ner", "qa"}


def test_each_module_says_which_notebook_builds_or_uses_it():
    silent = []
    for path in PACKAGE.rglob("*.py"):
        top_level = path.parent == PACKAGE
        if top_level and path.stem in SHIMS_AND_PLUMBING | {"__init__"}:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if "otebook" not in doc:
            silent.append(str(path.relative_to(PACKAGE.parent)))
    assert not silent, "module docstrings that name no notebook: " + ", ".join(sorted(silent))
