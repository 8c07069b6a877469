"""Pick the best device and the matching mixed-precision dtype, so notebooks run anywhere unchanged."""

from __future__ import annotations

import os

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, else Apple's MPS, else CPU. ``prefer`` (or $BERT_EDU_DEVICE) forces one."""
    prefer = prefer or os.environ.get("BERT_EDU_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16 (needs a grad scaler), and no autocast on CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def describe(device: torch.device | None = None) -> str:
    device = device or get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        bf16 = torch.cuda.is_bf16_supported()
        return f"cuda ({name}, bf16 {'yes' if bf16 else 'no'})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
