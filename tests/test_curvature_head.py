"""The head's block in closed form (core.curvature.head) against autograd twice, and where it
must not be used."""

import pytest
import torch
from torch import nn

from core.curvature import dense
from core.curvature.head import head_block
from core.problem import Problem
from core.shapes import Size
from factories import shaped_problem, tiny_problem
from test_architectures import ggn_by_definition


@pytest.mark.parametrize("kind", ["cnn", "cnn mse", "mlp", "mlp mse", "resnet", "transformer"])
def test_the_heads_block_is_the_hessians_and_the_ggns(kind):
    architecture, _, loss = kind.partition(" ")
    arguments = dict(architecture=architecture, loss=loss or "cross_entropy", side=4, num_classes=3)
    if architecture == "mlp":
        arguments["hidden"] = (4,)
    problem = shaped_problem(**arguments)
    head = problem.closed_form_head
    assert head is not None and head.name == problem.layers[-1].name
    flat, block = head_block(problem, torch.float64)
    assert sorted(flat.tolist()) == list(range(head.slice.start, head.slice.stop))
    if architecture == "transformer":  # torch 2.14's torch.func.hessian is wrong through layer_norm
        reference = torch.autograd.functional.hessian(problem.loss_at, problem.flat_params())
    else:
        reference = torch.func.hessian(problem.loss_at)(problem.flat_params())
    torch.testing.assert_close(block, reference[flat][:, flat], rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(block, ggn_by_definition(problem)[flat][:, flat], rtol=1e-10, atol=1e-13)


def test_a_dense_build_takes_no_products_for_the_head_and_gives_the_same_matrix():
    problem = shaped_problem(architecture="cnn", side=4, num_classes=3)
    before = problem.hvp_count
    with_head = dense.dense_matrix(problem, "hessian", torch.float64)
    assert problem.hvp_count - before == problem.num_params - problem.head_params
    problem._closed_form_head = None  # every column by products
    before = problem.hvp_count
    without = dense.dense_matrix(problem, "hessian", torch.float64)
    assert problem.hvp_count - before == problem.num_params
    torch.testing.assert_close(with_head, without, rtol=1e-10, atol=1e-13)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return 2.0 * self.fc2(torch.tanh(self.fc1(x)))  # the output is not the head's own


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2, 2), nn.Linear(2, 2)
        self.fc2.weight = self.fc1.weight  # the head's weight acts before it too

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))  # the head acts on its own output


def _problem(model, loss="cross_entropy"):
    x = torch.randn(6, 3 if not isinstance(model, Tied) else 2, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    return Problem(model.double(), x, torch.tensor([0, 1, 0, 1, 1, 0]), loss=loss)


@pytest.mark.parametrize("case", ["output scaled after the head", "tied weights", "applied twice", "one layer",
                                  "custom loss"])
def test_no_closed_form_head_where_the_block_would_be_wrong(case):
    if case == "output scaled after the head":
        problem = _problem(Scaled())
    elif case == "tied weights":
        problem = _problem(Tied())
    elif case == "applied twice":
        problem = _problem(Twice())
    elif case == "one layer":
        problem = _problem(nn.Sequential(nn.Linear(3, 2)))
    else:
        problem = _problem(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
                           loss=lambda out, y: nn.functional.cross_entropy(out, y) ** 2)
    assert problem.closed_form_head is None and problem.head_params == 0
    reference = torch.func.hessian(problem.loss_at)(problem.flat_params())
    torch.testing.assert_close(dense.dense_matrix(problem, "hessian", torch.float64), reference,
                               rtol=1e-10, atol=1e-13)


def test_the_reduced_build_places_the_head_at_its_kept_coordinates():
    problem = tiny_problem("tanh", hidden=(5, 4), inputs=6, n=20)
    problem.x[:, 1] = 0.7  # a constant input: the first layer's coordinates are merged
    assert problem.head_params == 4 * 10 + 10
    found = dense.spectrum(problem, "hessian", dtype=torch.float64)
    reference = torch.func.hessian(problem.loss_at)(problem.flat_params())
    torch.testing.assert_close(torch.as_tensor(found["eigenvalues"]), torch.linalg.eigvalsh(reference),
                               rtol=1e-8, atol=1e-11)


def test_the_cost_model_counts_the_heads_columns_as_free_of_products():
    from core.budget import estimate_dense

    plain, headed = Size(1370, 1000, path="single", macs=6912), Size(1370, 1000, path="single", macs=6912,
                                                                         head_params=1290)
    assert headed.built_columns == 80
    assert estimate_dense(headed).seconds < estimate_dense(plain).seconds / 5


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_each_losss_closed_form_output_hessians_are_autograds(loss):
    from core.losses import LOSSES, OUTPUT_HESSIANS, mean_loss, targets

    assert set(OUTPUT_HESSIANS) <= set(LOSSES)
    gen = torch.Generator().manual_seed(1)
    outputs = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    goal = targets(loss, torch.tensor([0, 2, 1, 1, 0]), 3)
    full = torch.func.hessian(lambda f: mean_loss(loss, f, goal))(outputs)  # (N, C, N, C)
    per_example = torch.stack([full[n, :, n, :] for n in range(5)])
    torch.testing.assert_close(OUTPUT_HESSIANS[loss](outputs), per_example, rtol=1e-12, atol=1e-14)
    off_diagonal = full.clone()
    for n in range(5):
        off_diagonal[n, :, n, :] = 0
    assert off_diagonal.abs().max() == 0  # examples do not couple: a block per example is all of it
