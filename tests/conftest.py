import os
import sys
from pathlib import Path

import torch

# Tests run on shared CPUs: keep torch from oversubscribing them. At most MAX_THREADS threads in this process
# unless OMP_NUM_THREADS says otherwise (subprocesses the tests start set their own), and no tokenizer threads.
MAX_THREADS = 4
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(MAX_THREADS, torch.get_num_threads()))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def book_site(tmp_path_factory):
    """The course's book, built once per test run from the committed notebooks (tests/test_book.py and
    tests/test_browser_book.py): (site folder, build summary with the wall time in "wall")."""
    import time

    from bert_edu.course import book

    out = tmp_path_factory.mktemp("book") / "book"
    start = time.perf_counter()
    summary = book.build(out, verbose=False)
    summary["wall"] = time.perf_counter() - start
    return out, summary


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright (tests/browser_support.py): skipped outside CI when it is missing,
    a failure in CI."""
    from browser_support import launch, needs_a_browser

    needs_a_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
