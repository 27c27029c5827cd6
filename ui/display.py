"""What the pages show besides widgets: flash messages (a note shown once, on the next run), user strings escaped
for Markdown and plotly (shown as typed), a text as a block quote, one text's energy bars."""
from __future__ import annotations

import re

import numpy as np
import streamlit as st

from eqn_core.method.thresholds import reaches


def flash(message: str, kind: str = "success") -> None:
    """A message shown once, on the next run of the page (call before st.rerun())."""
    st.session_state["_flash"] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop("_flash", (None, None))
    if message:
        getattr(st, kind)(message)


ENERGY_BAR_STYLES = {  # category -> (colour, bar pattern): human labels hatched, suggestions in a warm colour
    "human label": ("#1f77b4", "/"),
    "human label, low energy": ("#9ecae1", "/"),
    "suggested micro-emotion": ("#ff7f0e", ""),
    "below threshold": ("#c7c7c7", ""),
}


def energy_bar_figure(energies, human_labels, label_names: list[str], thresholds, *, per_label: bool,
                      title: str = "", height: int = 360):
    """Plotly bars of one text's C energies: human labels hatched, suggestions coloured, the threshold drawn.

    energies: (C,); human_labels: (C,) bool; thresholds: (C,). per_label: markers per label, else one line.
    """
    import plotly.graph_objects as go

    label_names = [plot_text(name) for name in label_names]  # plotly renders some HTML: show names as typed
    energies = np.asarray(energies, dtype=np.float64)  # (C,)
    human_labels = np.asarray(human_labels, dtype=bool)  # (C,)
    thresholds = np.asarray(thresholds, dtype=np.float64)  # (C,)
    above = reaches(energies[None, :], thresholds)[0]  # the one threshold rule (float32, energy >= h)
    category = np.where(human_labels, np.where(above, "human label", "human label, low energy"),
                        np.where(above, "suggested micro-emotion", "below threshold"))
    figure = go.Figure()
    for name, (colour, pattern) in ENERGY_BAR_STYLES.items():
        chosen = np.flatnonzero(category == name)
        if chosen.size:
            figure.add_bar(x=[label_names[i] for i in chosen], y=energies[chosen], name=name,
                           marker={"color": colour, "pattern": {"shape": pattern}},
                           hovertemplate="%{x}: %{y:.2f}<extra>" + name + "</extra>")
    if per_label:
        figure.add_scatter(x=label_names, y=thresholds, mode="markers", name="threshold (per label)",
                           marker={"symbol": "line-ew-open", "size": 18, "color": "#d62728", "line": {"width": 3}},
                           hovertemplate="%{x}: h = %{y:.2f}<extra></extra>")
    else:
        figure.add_hline(y=float(thresholds[0]), line_dash="dash", line_color="#d62728",
                         annotation_text=f"threshold h = {thresholds[0]:g}", annotation_position="top left")
    figure.update_layout(title=plot_text(title) if title else None, barmode="overlay", height=height,
                         yaxis_title="energy", yaxis_range=[0, 10.5], legend_orientation="h", legend_y=-0.3,
                         xaxis={"categoryorder": "array", "categoryarray": list(label_names), "tickangle": -45},
                         margin={"t": 40 if title else 10, "b": 10})
    return figure


def escape_markdown(text) -> str:
    """Any user string (label, text id, reviewer, file name) made safe for st.markdown / st.caption / st.error and
    widget labels: Markdown and HTML characters are escaped, so "[link](http://x)" or "<b>" show as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])", r"\\\1", str(text)).replace("\n", " ")


def plot_text(text) -> str:
    """A user string for plotly labels and hover text, which render a few HTML tags (<b>, <a href>): shown as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_text(text: str) -> str:
    """A data set text as a Markdown block quote, its Markdown characters escaped (shown as typed)."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)
    return "> " + escaped.replace("\n", "  \n> ")
