import pytest

from core.config import ConfigError, ExperimentConfig, parse_hidden


def test_defaults_valid_and_hashable():
    a, b = ExperimentConfig(), ExperimentConfig()
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a.architecture == "mlp" and a.loss == "cross_entropy"


@pytest.mark.parametrize("field, value, words", [
    ("dataset", "cifar", "one of 'mnist', 'fashion-mnist', 'cifar10', 'digits', 'synthetic'"),
    ("architecture", "vit", "one of 'mlp'"),
    ("loss", "hinge", "one of 'cross_entropy'"),
    ("input_size", 13, "one of 28, 14, 7"),
    ("hidden", (), "depth >= 1"),
    ("hidden", (8, 0), "an integer from 1 to 4096"),
    ("activation", "swish", "'relu'"),
    ("epochs", -1, "an integer from 0"),
    ("lr", 0.0, "a number in (0.0, 10.0]"),
    ("hessian_batch_size", 0, "an integer from 1"),
    ("seed", 1.5, "an integer"),
    ("optimizer", "lbfgs", "'adam', 'sgd'"),
])
def test_bad_value_names_field_value_and_allowed(field, value, words):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(f"{field}={value!r} is not allowed")
    assert words in message


def test_dict_round_trip_and_unknown_field():
    cfg = ExperimentConfig(hidden=(16, 8), activation="tanh")
    assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="widht"):
        ExperimentConfig.from_dict({"widht": 3})


def test_parse_hidden():
    assert parse_hidden("16, 8") == (16, 8)
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_hidden("a,b")


def test_input_dim_follows_dataset_used():
    cfg = ExperimentConfig(input_size=14, hidden=(8,))
    assert cfg.input_dim() == 196 and cfg.input_dim("digits") == 64
    assert ExperimentConfig(dataset="synthetic", synthetic_dim=5).input_dim() == 5


def test_device_auto_picks_the_cpu_here_and_cuda_is_refused_without_a_gpu():
    from core.device import cuda_available

    assert ExperimentConfig(device="auto").device == ("cuda" if cuda_available() else "cpu")
    assert ExperimentConfig().device == "cpu" and "device" in ExperimentConfig().to_dict()
    if not cuda_available():
        with pytest.raises(ConfigError, match="device='cuda' is not allowed: 'cpu' or 'auto'"):
            ExperimentConfig(device="cuda")
    with pytest.raises(ConfigError, match="device='tpu'"):
        ExperimentConfig(device="tpu")


@pytest.mark.parametrize("fields, words", [
    (dict(architecture="transformer", dataset="synthetic"), "reads an image's rows as tokens"),
    (dict(architecture="transformer", dataset="digits", hidden=(8, 4)), "all equal (the residual stream)"),
    (dict(architecture="transformer", dataset="digits", hidden=(8, 8, 8)), "at most 2"),
    (dict(architecture="transformer", dataset="digits", batch_norm=True), "its blocks have LayerNorm"),
    (dict(architecture="resnet", dataset="synthetic"), "a resnet needs images"),
    (dict(architecture="resnet", dataset="digits", hidden=(4, 4, 4, 4)), "at most 3 channel counts for a resnet"),
    (dict(architecture="cnn", dataset="digits", no_skips=True), "a cnn has no skip connections"),
    (dict(no_skips=True), "a mlp has no skip connections"),
])
def test_the_new_architectures_refuse_what_they_cannot_be_in_one_line(fields, words):
    with pytest.raises(ConfigError) as refused:
        ExperimentConfig(**fields)
    assert words in str(refused.value)


def test_the_new_architectures_label_themselves():
    assert ExperimentConfig(dataset="digits", architecture="resnet", hidden=(4,), no_skips=True).label() == \
        "digits resnet[4]-noskip relu N=1000 seed=0"
    assert ExperimentConfig(dataset="digits", architecture="transformer", hidden=(8, 8)).label() == \
        "digits transformer[8x8] relu N=1000 seed=0"
