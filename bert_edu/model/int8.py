"""Checkpoints stored in int8, for committing a fine-tuned model small (issue 26: notebook 11's QA demo).

Scheme: every floating-point matrix (2-D tensor: the Linear weights and the embedding tables) is quantised per
row, symmetrically: ``scale[r] = max|W[r]| / 127`` and ``Q[r] = round(W[r] / scale[r])`` in int8, so
``W ~= Q * scale[:, None]`` with an error of at most ``scale[r] / 2`` per entry. The scales are kept in float32 next
to each matrix (key ``NAME + SCALE_SUFFIX``); vectors (biases, LayerNorm) stay in float32. A MiniLM-sized model
(22.7 M parameters, almost all in matrices) takes about a quarter of its float32 size.

    quantize_folder("runs/qa", "benchmarks/results/checkpoints/qa-minilm-int8")   # writes model.int8.safetensors
    dequantize_folder("benchmarks/results/checkpoints/qa-minilm-int8", tmp)      # a normal checkpoint folder
    model, tokenizer = bert_edu.train.qa.load_qa_model(tmp)                      # loads as any checkpoint

Writing is atomic (a temporary folder, then one rename), as for every checkpoint of the package.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from bert_edu.model.convert import WEIGHTS_NAME, load_state_dict_file, save_state_dict_file

INT8_WEIGHTS_NAME = "model.int8.safetensors"
SCALE_SUFFIX = ".int8_scale"
FORMAT = "bert-edu-int8-per-row-symmetric"
# the files of a checkpoint folder other than the weights (config and tokenizer), copied as they are
SIDE_FILES = ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def quantize_state_dict(state_dict: dict) -> dict:
    """int8 matrices with their per-row float32 scales; every other tensor as float32."""
    out = {}
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu()
        if t.is_floating_point() and t.dim() == 2:
            t = t.float()
            scale = t.abs().amax(dim=1) / 127.0
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero
            out[name] = torch.round(t / scale[:, None]).clamp(-127, 127).to(torch.int8)
            out[name + SCALE_SUFFIX] = scale
        else:
            out[name] = t.float() if t.is_floating_point() else t
    return out


def dequantize_state_dict(quantized: dict) -> dict:
    """The float32 state dict back: ``Q * scale`` for every quantised matrix."""
    out = {}
    for name, tensor in quantized.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = quantized.get(name + SCALE_SUFFIX)
        out[name] = tensor.float() * scale[:, None] if scale is not None else tensor
    return out


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_folder(out: Path, fill) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def quantize_folder(folder, out) -> Path:
    """A checkpoint folder (Hugging Face layout) -> an int8 folder: ``model.int8.safetensors``, the config and the
    tokenizer files. Returns the path of the int8 weights file."""
    from safetensors.torch import save_file

    folder = Path(folder)
    quantized = quantize_state_dict(load_state_dict_file(folder))

    def fill(tmp: Path):
        save_file(quantized, str(tmp / INT8_WEIGHTS_NAME), metadata={"format": FORMAT})
        for name in SIDE_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, tmp / name)

    return _atomic_folder(Path(out), fill) / INT8_WEIGHTS_NAME


def load_int8_state_dict(folder, expected_sha256: str | None = None) -> dict:
    """The float32 state dict of an int8 folder (checks the file's format first, and its sha256 when given: a
    committed checkpoint is read only if it is the file its results JSON describes)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(folder) / INT8_WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {INT8_WEIGHTS_NAME} in {folder}; make one with bert_edu.model.int8.quantize_folder")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ValueError(f"{path}: its sha256 is not the one its results JSON records ({expected_sha256[:12]}...); "
                         "the file is damaged or was replaced: restore it with git checkout, or re-make it and its JSON")
    with safe_open(str(path), framework="pt") as f:
        fmt = (f.metadata() or {}).get("format")
    if fmt != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file (its format is {fmt!r})")
    return dequantize_state_dict(load_file(str(path)))


def dequantize_folder(folder, out, expected_sha256: str | None = None) -> Path:
    """An int8 folder -> an ordinary float32 checkpoint folder that every loader of the package (and
    `transformers`) reads. ``expected_sha256``: refuse a weights file with another hash."""
    folder = Path(folder)
    state = load_int8_state_dict(folder, expected_sha256)

    def fill(tmp: Path):
        save_state_dict_file(state, tmp)
        for name in SIDE_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, tmp / name)

    _atomic_folder(Path(out), fill)
    return Path(out)


def describe(folder) -> dict:
    """Size and sha256 of an int8 folder's weights file, for a results JSON."""
    path = Path(folder) / INT8_WEIGHTS_NAME
    config = json.loads((Path(folder) / "config.json").read_text()) if (Path(folder) / "config.json").is_file() else {}
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path),
            "format": FORMAT, "model_type": config.get("model_type")}


__all__ = ["quantize_state_dict", "dequantize_state_dict", "quantize_folder", "dequantize_folder",
           "load_int8_state_dict", "describe", "sha256_file", "INT8_WEIGHTS_NAME", "WEIGHTS_NAME"]
