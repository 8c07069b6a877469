"""The GPU smoke suite (``pytest -m gpu tests/gpu``; benchmarks/gpu_check.py runs it first): every test here is
marked ``gpu`` and skipped, with the reason, on a machine without CUDA."""

import os

import pytest

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA starts: deterministic cuBLAS
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

NO_CUDA = "no CUDA GPU: tests/gpu run only on a machine with one (make gpu-check)"


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.gpu)
            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason=NO_CUDA))
