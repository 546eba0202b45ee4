"""Modules the project does not build, for the own-model tests and the CLI's ``own --model``.

* :class:`TiedSkipNet`: LayerNorm, a residual skip and one weight shared between two layers
  (``fc4.weight`` is ``fc2.weight``), with functional-free forward (every nonlinearity a module).
* :class:`ResidualNet`: a plain skip connection, nothing shared (what BackPACK's converter takes).
"""

import torch
from torch import nn


class TiedSkipNet(nn.Module):
    def __init__(self, inputs: int = 6, width: int = 8, classes: int = 3):
        super().__init__()
        self.fc1, self.ln = nn.Linear(inputs, width), nn.LayerNorm(width)
        self.fc2, self.fc4, self.fc3 = nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, classes)
        self.fc4.weight = self.fc2.weight
        self.act1, self.act2, self.act3 = nn.Tanh(), nn.Tanh(), nn.Tanh()

    def forward(self, x):
        h = self.ln(self.act1(self.fc1(x)))
        h = h + self.act2(self.fc2(h))
        return self.fc3(self.act3(self.fc4(h)))


class ResidualNet(nn.Module):
    def __init__(self, inputs: int = 6, width: int = 8, classes: int = 3):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(inputs, width), nn.Linear(width, width), nn.Linear(width, classes)
        self.act1, self.act2 = nn.Tanh(), nn.Tanh()

    def forward(self, x):
        h = self.act1(self.fc1(x))
        return self.fc3(h + self.act2(self.fc2(h)))


def batch(n: int = 24, inputs: int = 6, classes: int = 3, seed: int = 0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, inputs, generator=generator, dtype=dtype),
            torch.randint(0, classes, (n,), generator=generator))


def build():
    """The CLI's builder: a float64 :class:`TiedSkipNet` and its batch."""
    torch.manual_seed(0)
    return (TiedSkipNet().double(), *batch())
