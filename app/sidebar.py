"""The shared sidebar: drawn once per run by the entry point, read by every page.

Widgets live under fixed keys (``cfg_*``) and are drawn on every run by ``Home.py``, so their
values survive page changes without copying (Streamlit's documented pattern for
``st.navigation``). Each configuration control is drawn from its field's facts
(:data:`core.config.FIELDS`: label, help, bounds or choices, default, section), the methods from
the registry; nothing is restated here. :func:`draw` validates the values into a
:class:`Selection`; a bad value shows one message and stops the run before anything computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app import url_state
from app.url_state import SAMPLES_RANGE, widget_key
from app.text import literal
from core import ahead, workspace
from core.config import FIELDS, FILE_DATASETS, IMAGE_ARCHITECTURES, ConfigError, ExperimentConfig, parse_hidden
from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION, PRESENTATION_SELECTION, REGISTRY

_CONFIG = ExperimentConfig()
#: the configuration fields the sidebar draws, by section, in the field table's order
DRAWN = [f for f in FIELDS.values() if f.section]
#: widget key -> default value (widths as the text their widget holds)
DEFAULTS = {
    **{widget_key(f.name): f.format(getattr(_CONFIG, f.name)) if f.kind == "widths" else getattr(_CONFIG, f.name)
       for f in DRAWN},
    "cfg_methods": list(DEFAULT_SELECTION),
    "cfg_samples": DEFAULT_SAMPLES,
    "cfg_present": False,
}
_SELECTION_KEY = "_selection"
#: the switch of :mod:`core.ahead` (a preference of this session, not part of the view: not in the URL)
AHEAD_KEY = "ahead_on"
_URL_READ_KEY = "_url_read"


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose: the experiment, the methods, the Hutchinson sample count."""

    config: ExperimentConfig
    methods: tuple[str, ...]
    samples: int
    present: bool = False
    ahead: bool = False


def _load_url_once() -> None:
    """On a session's first run: the URL's values into the widgets, a message per bad one."""
    if st.session_state.get(_URL_READ_KEY):
        return
    st.session_state[_URL_READ_KEY] = True
    values, errors = url_state.read(st.query_params.to_dict())
    if values.get("cfg_present") and "cfg_methods" not in values:
        values["cfg_methods"] = list(PRESENTATION_SELECTION)
    for key, value in values.items():
        st.session_state[key] = value
    st.session_state["_url_errors"] = errors


def files_available(dataset: str) -> bool:
    """Whether the workspace holds the verified files of ``dataset`` (no torch: file checks only)."""
    from core.data import available

    return dataset in FILE_DATASETS and available(dataset, workspace.current().data_dir)


def _widget(f, uses_mnist: bool, architecture: str):
    """Draw the widget of field ``f`` from its facts; return its value (widths as text)."""
    key, label, help_text = widget_key(f.name), f.label, f.help
    if f.name == "input_size" and not uses_mnist:
        return st.selectbox(label, f.choices, key=key, disabled=True,
                            help="not used: the dataset's files are not here, the 8x8 digits have their own size")
    if f.name == "no_skips" and architecture != "resnet":
        return st.toggle(label, key=key, disabled=True, help="not used: only the residual CNN has skip connections")
    if f.name == "hidden" and architecture == "transformer":
        label = "width per attention block (comma separated)"
        help_text = "e.g. 16 (one block) or 16,16 (two): the residual stream's width d, the same in every block"
    elif f.name == "hidden" and architecture in IMAGE_ARCHITECTURES:
        label = "channels per convolution (comma separated)"
        help_text = ("e.g. 4 or 4,8: one 3x3 convolution + pooling block each, at most 3" if architecture == "cnn" else
                     "e.g. 4 or 4,8: one 3x3 convolution, a residual block of two more and pooling each, at most 3")
    if f.name == "checkpoint":
        kept = int(st.session_state[widget_key("checkpoints")])
        if st.session_state[key] >= kept:
            st.session_state[key] = -1
        return st.selectbox(label, list(range(-1, kept)), key=key, help=help_text,
                            format_func=lambda i: "final parameters" if i == -1 else f"checkpoint {i}")
    if f.kind == "choice":
        names = f.choice_labels or {}
        return st.selectbox(label, f.choices, key=key, help=help_text, format_func=lambda c: names.get(c, str(c)))
    if f.kind == "bool":
        return st.toggle(label, key=key, help=help_text)
    if f.kind == "widths":
        return st.text_input(label, key=key, help=help_text)
    if f.kind == "int" and f.high - f.low <= 20:
        return st.slider(label, min_value=int(f.low), max_value=int(f.high), key=key, help=help_text)
    if f.kind == "int":
        return st.number_input(label, min_value=int(f.low), max_value=int(f.high), key=key, help=help_text)
    return st.number_input(label, max_value=float(f.high), format="%.4g", key=key, help=help_text)


#: the methods' tags show their whole labels (Streamlit cuts a tag at about 20 characters: "PyHessian power it…")
WHOLE_TAGS_CSS = ("<style>[data-testid=stSidebar] [data-tag] { max-width: 100% !important; height: auto; } "
                  "[data-testid=stSidebar] [data-tag] span[title] { max-width: none !important; overflow: visible; "
                  "text-overflow: clip; white-space: normal; }</style>")


def draw() -> Selection:
    """Draw the controls and return the validated selection (also kept for :func:`current`)."""
    _load_url_once()
    for key, value in {**DEFAULTS, **url_state.PAGE_DEFAULTS}.items():
        st.session_state.setdefault(key, value)
    for message in st.session_state.get("_url_errors", []):
        st.error(f"{literal(message)}. That control keeps its default.")
    values = {}
    with st.sidebar:
        st.markdown(WHOLE_TAGS_CSS, unsafe_allow_html=True)
        present = st.toggle("presentation mode", key="cfg_present",
                            help="the page's chart first and large, larger type, tables folded away; "
                                 "in the URL as present=1")
        uses_mnist = files_available(st.session_state[widget_key("dataset")])
        for section, title in (("experiment", "Experiment"), ("training", "Training schedule and checkpoint")):
            box = st.container() if section == "experiment" else st.expander(title)
            with box:
                if section == "experiment":
                    st.header(title)
                for f in (f for f in DRAWN if f.section == section):
                    values[f.name] = _widget(f, uses_mnist, st.session_state[widget_key("architecture")])
        st.header("Methods")
        methods = st.multiselect("methods to compare", list(REGISTRY), key="cfg_methods",
                                 format_func=lambda n: REGISTRY[n].label)
        samples = st.slider("Hutchinson sample count", min_value=SAMPLES_RANGE[0], max_value=SAMPLES_RANGE[1],
                            key="cfg_samples", help="also the product budget of Hutch++ and XTrace")
        st.session_state.setdefault(AHEAD_KEY, ahead.enabled())
        compute_ahead = st.toggle("compute likely next settings while idle", key=AHEAD_KEY,
                                  help="once this page has everything, the next width, the other activation and the "
                                       "other loss are computed at the lowest CPU priority and cached, so picking "
                                       "one is quick; stops as soon as you change a control ($HESSIAN_AHEAD=0 "
                                       "starts with it off)")
    try:
        if not uses_mnist:
            values["input_size"] = _CONFIG.input_size
        if values["architecture"] != "resnet":  # the switch is drawn disabled: a net without skips ignores it
            values["no_skips"] = False
        values["hidden"] = parse_hidden(values["hidden"])
        config = ExperimentConfig(**{name: value for name, value in values.items()})
    except ConfigError as error:
        st.error(f"Invalid setting: {literal(error)}. Nothing was recomputed.")
        st.stop()
        raise  # st.stop() only stops inside a Streamlit run
    selection = Selection(config, tuple(methods), int(samples), bool(present), bool(compute_ahead))
    st.session_state[_SELECTION_KEY] = selection
    every = {**DEFAULTS, **url_state.PAGE_DEFAULTS}
    shown = url_state.write({key: st.session_state[key] for key in every if key in st.session_state}, every)
    if shown != st.query_params.to_dict():
        st.query_params.from_dict(shown)
    return selection


def current() -> Selection:
    """The selection :func:`draw` made in this run (pages call this)."""
    return st.session_state[_SELECTION_KEY]
