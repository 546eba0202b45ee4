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


CONFIGS = [
    (ExperimentConfig(hidden=(8, 4)), 196, 10),
    (ExperimentConfig(hidden=(5,), batch_norm=True, activation="tanh"), 64, 3),
    (ExperimentConfig(architecture="cnn", dataset="digits", hidden=(4,)), 64, 10),
    (ExperimentConfig(architecture="cnn", dataset="digits", hidden=(3, 5, 2), batch_norm=True), 64, 7),
    (ExperimentConfig(architecture="cnn", input_size=14, hidden=(8,), batch_norm=True, loss="mse"), 196, 2),
    (ExperimentConfig(architecture="cnn", input_size=28, hidden=(2, 2), activation="gelu"), 784, 5),
    (ExperimentConfig(architecture="resnet", dataset="digits", hidden=(3, 4)), 64, 10),
    (ExperimentConfig(architecture="resnet", dataset="digits", hidden=(4,), batch_norm=True, no_skips=True), 64, 3),
    (ExperimentConfig(architecture="transformer", dataset="digits", hidden=(6,)), 64, 10),
    (ExperimentConfig(architecture="transformer", input_size=14, hidden=(4, 4), loss="mse"), 196, 4),
]


def test_the_torch_free_layer_table_agrees_with_the_built_model():
    """P, the parameterised layers, the activations and the forward multiply-adds that the budget
    reads before anything is built are those of the model that is built and hooked."""
    from core import shapes
    from core.problem import Problem

    for config, inputs, classes in CONFIGS:
        model = models.build_model(config, inputs, classes)
        x = models.model_inputs(config, torch.randn(3, inputs))
        problem = Problem(model, x, torch.zeros(3, dtype=torch.long), loss=config.loss)
        assert shapes.num_params(config, inputs, classes) == models.num_params(model) == problem.num_params
        assert [l.name for l in shapes.parameterised_layers(config, inputs, classes)] == [l.name for l in problem.layers]
        assert [l.label for l in shapes.parameterised_layers(config, inputs, classes)] == [l.label for l in problem.layers]
        assert shapes.activations(config, inputs, classes) == sum(problem._activations_per_example())
        assert shapes.forward_macs(config, inputs, classes) == problem.forward_macs
        assert problem.num_classes == classes
        assert (problem.product_path == "fast") == shapes.fast_products(config)
        # units off on these 3 random examples are known from the model only
        assert problem.size == shapes.size(config.replace(hessian_batch_size=3), inputs, classes,
                                           off_rows=problem.known_off)


def test_the_layer_table_imports_no_torch():
    """Sizes and costs are known before torch is imported (what lets a refusal come first)."""
    import subprocess
    import sys

    code = ("import sys; from core import shapes; from core.config import ExperimentConfig as C; "
            "p = shapes.num_params(C(architecture='cnn', dataset='digits', hidden=(4,)), 64, 10); "
            "print(p, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["690", "False"]


def test_batchnorm_layers_replace_the_bias_before_them_and_train_in_train_mode():
    from core.config import ExperimentConfig as C

    model = models.build_model(C(architecture="cnn", dataset="digits", hidden=(3,), batch_norm=True), 64, 10)
    assert model.conv1.bias is None and isinstance(model.bn1, torch.nn.BatchNorm2d)
    assert not model.training  # built for study: eval mode
    mlp = models.build_model(C(hidden=(4,), batch_norm=True), 64, 10)
    assert mlp.fc1.bias is None and mlp.fc2.bias is not None and isinstance(mlp.bn1, torch.nn.BatchNorm1d)
