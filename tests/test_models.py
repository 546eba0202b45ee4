"""The architecture table: every config choice has a builder, P is read from the model."""

import torch

from core import models
from core.config import ARCHITECTURES, ExperimentConfig
from core.losses import LOSSES
from core.config import LOSS_NAMES


def test_every_architecture_and_loss_choice_has_an_implementation():
    assert set(models.MODELS) == set(ARCHITECTURES)
    assert set(LOSSES) == set(LOSS_NAMES)


def test_mlp_parameters_and_seeded_initialisation_leave_the_global_rng_alone():
    config = ExperimentConfig(hidden=(8, 4))
    state = torch.random.get_rng_state()
    a = models.build_model(config, input_dim=196, num_classes=10)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = models.build_model(config, input_dim=196, num_classes=10)
    assert models.num_params(a) == 196 * 8 + 8 + 8 * 4 + 4 + 4 * 10 + 10
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = models.build_model(config.replace(seed=1), input_dim=196, num_classes=10)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
