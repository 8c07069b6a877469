"""Pick the best device and the matching mixed-precision dtype, so notebooks run anywhere unchanged.

Used by every training notebook (07, 08, 10, 11) and command line (through bert_edu.train.common)."""

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


MIXED_PRECISION = ("auto", "no", "fp16", "bf16")  # the --mixed-precision values (accelerate's names) + auto


def bf16_native(device: torch.device | str) -> bool:
    """True on GPUs whose tensor cores compute in bf16 (NVIDIA compute capability 8.0+: A100, RTX 30xx, L4,
    H100 ...). Older ones (T4, V100) only emulate it, slower than fp16: ``torch.cuda.is_bf16_supported()``
    says True there too unless asked ``including_emulation=False``, hence the explicit check."""
    device = torch.device(device)
    if device.type != "cuda":
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def autocast_dtype(device: torch.device | str, mixed_precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``--mixed-precision``: ``auto`` = bf16 where the GPU has it natively, else
    fp16 (needs a grad scaler); ``no`` = none. Only on CUDA: CPU and MPS always run fp32 (CPU autocast is
    slower than fp32 at the course's sizes). Asking for fp16/bf16 where it cannot run raises ValueError."""
    device = torch.device(device)
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed precision must be one of {', '.join(MIXED_PRECISION)}, not {mixed_precision!r}")
    if mixed_precision == "no":
        return None
    if device.type != "cuda":
        if mixed_precision != "auto":
            raise ValueError(f"--mixed-precision {mixed_precision} needs a CUDA GPU; on {device.type} use no "
                             "(or auto)")
        return None
    if mixed_precision == "bf16" and not bf16_native(device):
        raise ValueError(f"--mixed-precision bf16: {torch.cuda.get_device_name(device)} has no native bf16 "
                         "(compute capability below 8.0); use fp16 (or auto)")
    if mixed_precision == "fp16" or not bf16_native(device):
        return torch.float16
    return torch.bfloat16


def describe(device: torch.device | None = None) -> str:
    device = device or get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"cuda ({name}, bf16 {'native' if bf16_native(device) else 'no (fp16 + grad scaler)'})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
