"""A torchvision ResNet-18 (P = 11,181,642) on a random CIFAR-shaped batch: past the exact limit.

``python -m core own --model examples.resnet18:build`` (from the project's folder), or from
Python as in the README. The dense methods are refused with their estimate (about 1.4 million
GiB); the matrix-free ones answer with certificates: Lanczos' residuals, Hutchinson's standard
error. BackPACK's converter takes the residual blocks, so its DiagGGNExact runs; its Kronecker
factors have no rule for the adaptive average pooling and say so.
"""

import torch
import torchvision


def build(n: int = 8, seed: int = 0):
    """``(model, x, y)``: an untrained ResNet-18 for 10 classes and ``n`` random 3x32x32 images."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(n, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return model, x, y
