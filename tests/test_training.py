"""Training: the hand-written optimizers give torch.optim's weights, and training stays light."""

import subprocess
import sys

import pytest
import torch

from core import optimizers
from tests.factories import ROOT


def _trajectory(make_optimizer, steps=25, seed=0):
    """The weights of a small tanh MLP after each of ``steps`` mini-batch updates."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    optimizer = make_optimizer(model.parameters())
    weights = []
    for step in range(steps):
        idx = torch.arange(step % 4 * 10, step % 4 * 10 + 10)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
        weights.append(torch.cat([p.detach().flatten().clone() for p in model.parameters()]))
    return torch.stack(weights)


@pytest.mark.parametrize("ours, theirs", [
    (lambda p: optimizers.Adam(p, lr=3e-3), lambda p: torch.optim.Adam(p, lr=3e-3, foreach=False)),
    (lambda p: optimizers.Adam(p, lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1, foreach=False)),
    (lambda p: optimizers.SGD(p, lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9,
                                                                                   foreach=False)),
    (lambda p: optimizers.SGD(p, lr=0.5), lambda p: torch.optim.SGD(p, lr=0.5, foreach=False)),
], ids=["adam-3e-3", "adam-0.1", "sgd-momentum", "gd"])
def test_the_optimizers_follow_torch_optim_step_by_step(ours, theirs):
    mine, reference = _trajectory(ours), _trajectory(theirs)
    assert not torch.equal(mine[0], mine[-1])  # the weights moved
    torch.testing.assert_close(mine, reference, rtol=0, atol=1e-6)


def test_a_parameter_without_a_gradient_is_left_alone():
    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    for optimizer in (optimizers.Adam([used, unused], lr=0.1), optimizers.SGD([used, unused], lr=0.1, momentum=0.9)):
        optimizer.zero_grad()
        (used ** 2).sum().backward()
        optimizer.step()
        assert torch.equal(unused.detach(), torch.ones(2))
        assert (used.detach() < 1).all()


def test_a_non_positive_learning_rate_is_refused():
    with pytest.raises(ValueError, match="learning rate must be positive"):
        optimizers.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.0)


def test_training_the_default_network_does_not_import_torch_dynamo(tmp_path):
    """torch.optim imports torch._dynamo (1-2 s) on first use; the app's cold start should not."""
    code = ("import sys; from core.config import ExperimentConfig; from core.data import load_dataset; "
            "from core.training import train_model; "
            "c = ExperimentConfig(dataset='digits', epochs=1, train_subset=300, hessian_batch_size=100); "
            "r = train_model(c, load_dataset(c)); assert r.train_loss < 3; "
            "print('torch._dynamo' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


def test_small_networks_train_on_one_thread_and_the_rest_on_the_configured_threads(fresh_cache):
    """One thread where a second does not help and slows training 4x beside a busy core (the app's
    background job, the browser): the thread count is then not in the weights' last bits."""
    from core import pipeline, shapes, training
    from core.config import ExperimentConfig
    from core.models import build_model

    mlp = ExperimentConfig(dataset="synthetic", hidden=(16,), threads=2)
    wide = mlp.replace(hidden=(4096,))  # 64 x (8 x 4096 + 4096 x 10) = 4.7M multiply-adds a step
    wider = mlp.replace(hidden=(4096, 4096))  # 1.1G a step: two threads
    cnn = ExperimentConfig(dataset="digits", architecture="cnn", threads=2)
    full_batch = ExperimentConfig(hidden=(16,), activation="tanh", optimizer="gd", threads=2)  # the EoS setup
    assert training.training_threads(mlp, build_model(mlp, 8, 10), 5000) == 1
    assert training.training_threads(wide, build_model(wide, 8, 10), 5000) == 1
    assert training.training_threads(wider, build_model(wider, 8, 10), 5000) == 2
    # a CNN's step from its layer table: 0.44M multiply-adds on 8x8 digits, 5.4M on MNIST
    assert training.training_threads(cnn, build_model(cnn, 64, 10), 5000, shapes.forward_macs(cnn, 64, 10)) == 1
    mnist_cnn = cnn.replace(dataset="mnist")
    assert training.training_threads(mnist_cnn, build_model(mnist_cnn, 784, 10), 5000,
                                     shapes.forward_macs(mnist_cnn, 784, 10)) == 2
    assert training.training_threads(cnn, build_model(cnn, 64, 10), 5000) == 2  # its multiply-adds unknown
    # a full-batch step is over all examples: 5,000 x 12,704 = 64M multiply-adds on MNIST; 1.3M on 100
    assert training.training_threads(full_batch, build_model(full_batch, 784, 10), 5000) == 2
    assert training.training_threads(full_batch, build_model(full_batch, 784, 10), 100) == 1
    before = torch.get_num_threads()
    small = ExperimentConfig(dataset="synthetic", hidden=(6,), epochs=2, train_subset=200, hessian_batch_size=40,
                             synthetic_dim=5)
    one, two = pipeline.train(small.replace(threads=1)), pipeline.train(small.replace(threads=2))
    assert torch.get_num_threads() == before
    assert all((one.state[k] == two.state[k]).all() for k in one.state)  # the same thread, the same bits
