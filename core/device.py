"""Where computations run: ``cpu``, ``cuda`` or ``auto`` (the GPU when there is one; the choices
are :data:`core.config.DEVICES`).

The device is part of the configuration (and so of every cache key): results on a GPU may
differ from the CPU's in the last bits. Which methods run on a GPU is a fact of each method's
catalogue line (``gpu``); the others run on the CPU only. Nothing requires a GPU: ``auto`` picks the CPU where
no CUDA device is visible, and asking for ``cuda`` there is refused with one line.
"""

from __future__ import annotations


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


def resolve(name: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is visible, else ``cpu``; others unchanged.

    >>> resolve("cpu")
    'cpu'
    """
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    return name
