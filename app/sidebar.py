"""The shared sidebar: drawn once per run by the entry point, read by every page.

Widgets live under fixed keys (``cfg_*``) and are drawn on every run by ``Home.py``, so their
values survive page changes without copying (Streamlit's documented pattern for
``st.navigation``). Defaults come from :class:`core.config.ExperimentConfig` and the method
registry, not from a second table. :func:`draw` validates the values into a
:class:`Selection`; a bad value shows one message and stops the run before anything computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import url_state
from core import workspace
from core.config import (ACTIVATIONS, ARCHITECTURES, DATASETS, LOSS_NAMES, MNIST_INPUT_SIZES, NUM_CLASSES, OPTIMIZERS,
                         ConfigError, ExperimentConfig, parse_hidden)
from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION, REGISTRY

_CONFIG = ExperimentConfig()
#: widget key -> default value
DEFAULTS = {
    "cfg_architecture": _CONFIG.architecture,
    "cfg_batch_norm": _CONFIG.batch_norm,
    "cfg_loss": _CONFIG.loss,
    "cfg_num_classes": _CONFIG.num_classes,
    "cfg_dataset": _CONFIG.dataset,
    "cfg_input_size": _CONFIG.input_size,
    "cfg_hidden": ",".join(map(str, _CONFIG.hidden)),
    "cfg_activation": _CONFIG.activation,
    "cfg_hessian_batch_size": _CONFIG.hessian_batch_size,
    "cfg_epochs": _CONFIG.epochs,
    "cfg_seed": _CONFIG.seed,
    "cfg_methods": list(DEFAULT_SELECTION),
    "cfg_samples": DEFAULT_SAMPLES,
    "cfg_present": False,
    "cfg_device": _CONFIG.device,
    "cfg_optimizer": _CONFIG.optimizer,
    "cfg_lr": _CONFIG.lr,
    "cfg_checkpoints": _CONFIG.checkpoints,
    "cfg_checkpoint": _CONFIG.checkpoint,
}
ARCHITECTURE_LABELS = {"mlp": "MLP (fully connected)", "cnn": "CNN (LeNet-style)"}
LOSS_LABELS = {"cross_entropy": "cross-entropy", "mse": "MSE (squared error)"}
#: the short selection presentation mode starts with (fewer lines on a projector)
PRESENTATION_METHODS = ["pyhessian_top_k", "diag_hessian", "kfac", "lanczos", "hutchpp"]
_SELECTION_KEY = "_selection"
_URL_READ_KEY = "_url_read"


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose: the experiment, the methods, the Hutchinson sample count."""

    config: ExperimentConfig
    methods: tuple[str, ...]
    samples: int
    present: bool = False


def _load_url_once() -> None:
    """On a session's first run: the URL's values into the widgets, a message per bad one."""
    if st.session_state.get(_URL_READ_KEY):
        return
    st.session_state[_URL_READ_KEY] = True
    values, errors = url_state.read(st.query_params.to_dict())
    if values.get("cfg_present") and "cfg_methods" not in values:
        values["cfg_methods"] = list(PRESENTATION_METHODS)
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state["_url_errors"] = errors


def mnist_available() -> bool:
    """Whether the workspace holds usable MNIST files (no torch: file checks only)."""
    from core.data import mnist_available as available

    return available(workspace.current().data_dir)


def draw() -> Selection:
    """Draw the controls and return the validated selection (also kept for :func:`current`)."""
    _load_url_once()
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    for message in st.session_state.get("_url_errors", []):
        st.error(f"{message}. That control keeps its default.")
    with st.sidebar:
        present = st.toggle("presentation mode", key="cfg_present",
                            help="the page's chart first and large, larger type, tables folded away; "
                                 "in the URL as present=1")
        st.header("Experiment")
        dataset = st.selectbox("dataset", DATASETS, key="cfg_dataset",
                               help="mnist falls back to scikit-learn's 8x8 digits when MNIST is not available")
        uses_mnist = dataset == "mnist" and mnist_available()
        input_size = st.selectbox("MNIST input size (pixels a side)", MNIST_INPUT_SIZES, key="cfg_input_size",
                                  disabled=not uses_mnist,
                                  help="average pooling; fewer pixels, fewer first-layer parameters" if uses_mnist
                                  else "not used: no MNIST here, the 8x8 digits have their own size")
        architecture = st.selectbox("architecture", ARCHITECTURES, key="cfg_architecture",
                                    format_func=ARCHITECTURE_LABELS.get,
                                    help="cnn: 3x3 convolutions (padding 1) each followed by 2x2 max pooling, then "
                                         "one linear layer; images only")
        is_cnn = architecture == "cnn"
        hidden = st.text_input("channels per convolution (comma separated)" if is_cnn
                               else "hidden widths (comma separated)", key="cfg_hidden",
                               help="e.g. 4 or 4,8: one 3x3 convolution + pooling block each, at most 3"
                               if is_cnn else "e.g. 16 or 16,8")
        activation = st.selectbox("activation", ACTIVATIONS, key="cfg_activation")
        batch_norm = st.toggle("BatchNorm", key="cfg_batch_norm",
                               help="after every hidden linear / convolution. The Hessian is taken in eval mode "
                                    "(running statistics), so the loss is a fixed function of the parameters")
        loss = st.selectbox("loss", LOSS_NAMES, key="cfg_loss", format_func=LOSS_LABELS.get,
                            help="MSE: mean over the N x C entries, so the GGN's output Hessian is 2I/(NC)")
        num_classes = st.slider("classes C", min_value=2, max_value=NUM_CLASSES, key="cfg_num_classes",
                                help="train and study the first C classes (labels 0 to C-1); the head has C outputs")
        batch = st.number_input("Hessian batch size N", min_value=1, max_value=60_000, key="cfg_hessian_batch_size",
                                help="the fixed batch whose mean-loss Hessian is studied")
        epochs = st.number_input("training epochs", min_value=0, max_value=1000, key="cfg_epochs",
                                 help="with the gd optimizer, one full-batch step per epoch")
        seed = st.number_input("seed", min_value=0, max_value=2**31 - 1, key="cfg_seed")
        device = st.selectbox("device", ("cpu", "auto", "cuda"), key="cfg_device",
                              help="auto: the GPU when there is one; results (and cache entries) are per device")
        with st.expander("Training schedule and checkpoint"):
            optimizer = st.selectbox("optimizer", OPTIMIZERS, key="cfg_optimizer",
                                     help="gd: full-batch gradient descent with a fixed step (edge of stability)")
            lr = st.number_input("learning rate", min_value=1e-5, max_value=10.0, format="%.4g", key="cfg_lr")
            checkpoints = st.number_input("checkpoints kept", min_value=0, max_value=200, key="cfg_checkpoints",
                                          help="parameter snapshots, log-spaced in steps; the Training page follows them")
            if st.session_state["cfg_checkpoint"] >= checkpoints:
                st.session_state["cfg_checkpoint"] = -1
            checkpoint = st.selectbox("studied at checkpoint", list(range(-1, int(checkpoints))), key="cfg_checkpoint",
                                      format_func=lambda i: "final parameters" if i == -1 else f"checkpoint {i}",
                                      help="every page analyses the Hessian at this point of training")
        st.header("Methods")
        methods = st.multiselect("methods to compare", list(REGISTRY), key="cfg_methods",
                                 format_func=lambda n: REGISTRY[n].label)
        samples = st.slider("Hutchinson sample count", min_value=3, max_value=500, key="cfg_samples",
                            help="also the product budget of Hutch++ and XTrace")
    try:
        config = ExperimentConfig(architecture=architecture, batch_norm=bool(batch_norm), loss=loss,
                                  num_classes=int(num_classes),
                                  dataset=dataset, input_size=int(input_size) if uses_mnist else 28,
                                  hidden=parse_hidden(hidden),
                                  activation=activation, hessian_batch_size=int(batch), epochs=int(epochs),
                                  seed=int(seed), device=device, optimizer=optimizer, lr=float(lr),
                                  checkpoints=int(checkpoints), checkpoint=int(checkpoint))
    except ConfigError as error:
        st.error(f"Invalid setting: {error}. Nothing was recomputed.")
        st.stop()
        raise  # st.stop() only stops inside a Streamlit run
    selection = Selection(config, tuple(methods), int(samples), bool(present))
    st.session_state[_SELECTION_KEY] = selection
    shown = url_state.write({key: st.session_state[key] for key in DEFAULTS}, DEFAULTS)
    if shown != st.query_params.to_dict():
        st.query_params.from_dict(shown)
    return selection


def current() -> Selection:
    """The selection :func:`draw` made in this run (pages call this)."""
    return st.session_state[_SELECTION_KEY]
