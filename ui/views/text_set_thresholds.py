"""The Thresholds page on a text set's annotation: no human labels, so no precision or recall; instead what the
thresholds make of the texts, live as h moves (one st.fragment): texts per emotion at or above h, each emotion's
energy distribution, which emotions occur together, and the texts the last move changed.

The controls are those of labelled data (ui.views.thresholds.threshold_controls: global h, per-label overrides,
profiles): they set the session's setting of the annotating run, which Samples and Export use too. When the run was
deleted since, only a global h is offered.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN, ThresholdSetting
from ui.display import plot_text, show_flash
from ui.threshold_state import set_threshold_setting, threshold_setting
from ui.views import text_set_reads as reads
from ui.views import thresholds as views

CHANGED_ROWS_SHOWN = 200


def text_set_thresholds(workspace, choice: reads.TextSetChoice) -> None:
    st.caption(choice.describe() + " There are no human labels here, so no precision or recall: the figures show "
               "what the thresholds make of these texts.")
    run, exists = reads.session_run(workspace, choice)
    profiles = workspace.list_threshold_profiles(run_id=choice.run_id)["name"].tolist() if exists else []
    _live(choice, run, exists, profiles)


def _move_global(run: dict, labels: list[str]) -> None:
    set_threshold_setting(run, labels, ThresholdSetting.checked(st.session_state["ts_th_global"], {}, labels))


@st.fragment
def _live(choice: reads.TextSetChoice, run: dict, exists: bool, profiles: list[str]) -> None:
    """The controls and every figure that depends on h; a move reruns only this part, on cached DuckDB reads."""
    show_flash()  # a note from Tune, Clear or Load, whose reruns are this part's
    labels = list(choice.label_names)
    if exists:
        st.caption(f"These are run **{choice.run_id}**'s thresholds for this session, shared with its labelled data "
                   "and with Samples and Export; *Tune per label on dev* uses the run's own dev split.")
        controls = views.threshold_controls(run, labels, profiles)
        setting = controls.setting
        if controls.save:
            views.save_profile(run, labels, controls)
    else:
        setting = threshold_setting(run, labels)
        if st.session_state.get("ts_th_global") != setting.global_threshold:
            st.session_state["ts_th_global"] = setting.global_threshold
        st.slider("Global energy threshold h", ENERGY_MIN, ENERGY_MAX, step=0.1, key="ts_th_global",
                  on_change=_move_global, args=(run, labels))
        st.caption(f"Run {choice.run_id} was deleted, so only a global h is offered here (no per-label overrides).")
        setting = threshold_setting(run, labels)
    thresholds = setting.array(labels)  # (C,)
    report = reads.emotion_counts(choice, thresholds)
    _counts(report, setting.describe(len(labels)))
    _histograms(choice, thresholds)  # full width each: 28 emotions need the room for their names
    _cooccurrence(report)
    _changed(choice, views.previous_thresholds(run, labels), thresholds)


def _counts(report: dict, described: str) -> None:
    rows, labels = report["rows"], report["label_names"]
    per_text = report["labels_per_text"]
    none = per_text.get(0, 0)
    cells = st.columns(4)
    cells[0].metric("Texts annotated", f"{rows:,}")
    cells[1].metric("With at least one emotion", f"{rows - none:,} ({(rows - none) / max(rows, 1):.0%})")
    cells[2].metric("Emotions per text (mean)", f"{sum(k * n for k, n in per_text.items()) / max(rows, 1):.2f}")
    cells[3].metric("Thresholds", described)
    st.subheader("Texts per emotion at or above h")
    table = pd.DataFrame({"emotion": labels, "h": report["thresholds"], "texts": report["counts"],
                          "share": report["shares"]})
    order = table.sort_values("texts", ascending=False, kind="stable")
    figure = go.Figure(go.Bar(x=[plot_text(label) for label in order["emotion"]], y=order["texts"],
                              customdata=order["share"] * 100,
                              hovertemplate="%{x}: %{y:,} texts (%{customdata:.1f}%)<extra></extra>"))
    figure.update_layout(height=320, yaxis_title="texts", margin={"t": 10, "b": 10}, xaxis_tickangle=-45)
    chart, numbers = st.columns([3, 2])
    chart.plotly_chart(figure, key="ts_th_counts_chart")
    numbers.dataframe(order, hide_index=True, key="ts_th_counts_table", height=320,
                      column_config={"h": st.column_config.NumberColumn(format="%.1f"),
                                     "share": st.column_config.ProgressColumn(format="percent", min_value=0,
                                                                              max_value=1)})


def _histograms(choice: reads.TextSetChoice, thresholds: np.ndarray) -> None:
    st.subheader("Energy distribution per emotion")
    found = reads.energy_histograms(choice)
    labels, edges, counts = found["label_names"], found["edges"], found["counts"]  # counts (C, B)
    names = [plot_text(label) for label in labels]
    ticks = [10 ** k for k in range(int(np.log10(max(counts.max(), 1))) + 1)]  # 1, 10, 100 ... texts
    figure = go.Figure(go.Heatmap(  # colour on a log scale: most energies sit near 0, the tails would vanish
        z=np.log10(np.where(counts > 0, counts, np.nan)), x=(edges[:-1] + edges[1:]) / 2, y=names, customdata=counts,
        colorscale="Blues", zmin=0, colorbar={"title": "texts", "tickvals": np.log10(ticks), "ticktext": ticks},
        hovertemplate="%{y}, energy %{x:.2f}: %{customdata:,} texts<extra></extra>"))
    figure.add_scatter(x=thresholds, y=names, mode="markers", name="h", showlegend=False,
                       marker={"symbol": "line-ns-open", "size": 16, "color": "#d62728", "line": {"width": 3}},
                       hovertemplate="%{y}: h = %{x:.1f}<extra></extra>")
    figure.update_layout(height=max(300, 22 * len(labels) + 80), xaxis_title="energy", xaxis_range=[0, 10],
                         yaxis_autorange="reversed", margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="ts_th_histograms")
    st.caption("Each row: how many texts have an emotion's energy in each bin of 0-10 (log colour scale; white: "
               "none); the red mark is its h. Independent of h itself.")


def _cooccurrence(report: dict) -> None:
    st.subheader("Emotions that occur together at h")
    labels = [plot_text(label) for label in report["label_names"]]
    both = report["cooccurrence"].astype(np.float64)  # (C, C), the diagonal: texts with the emotion
    shown = both.copy()
    np.fill_diagonal(shown, np.nan)  # the diagonal would outshine every pair
    figure = go.Figure(go.Heatmap(z=shown, x=labels, y=labels, customdata=both, colorscale="Oranges",
                                  colorbar={"title": "texts"},
                                  hovertemplate="%{y} and %{x}: %{customdata:,} texts<extra></extra>"))
    every = {"tickmode": "array", "tickvals": labels, "ticktext": labels}  # each name, not every other one
    figure.update_layout(height=max(300, 22 * len(labels) + 120), yaxis={**every, "autorange": "reversed"},
                         xaxis={**every, "tickangle": -45}, margin={"t": 10, "b": 10})
    st.plotly_chart(figure, key="ts_th_cooccurrence")
    st.caption("Texts with both emotions at or above their h (the diagonal, each emotion's own count, left blank).")


def _changed(choice: reads.TextSetChoice, before: np.ndarray | None, thresholds: np.ndarray) -> None:
    st.subheader("Texts that changed with the last move")
    if before is None:
        st.caption("Move the threshold (or an override): the texts that gain or lose an emotion appear here.")
        return
    frame, total = reads.changed_texts(choice, before, thresholds, CHANGED_ROWS_SHOWN)
    st.caption(f"**{total:,}** texts gain or lose an emotion from {_describe(before)} to {_describe(thresholds)}"
               + (f" (the first {CHANGED_ROWS_SHOWN} in row order shown)." if total > CHANGED_ROWS_SHOWN else "."))
    if len(frame):
        join = ", ".join
        st.dataframe(pd.DataFrame({"row": frame["row_idx"], "text": frame["text"],
                                   "gained": frame["added"].map(join), "lost": frame["removed"].map(join),
                                   "emotions now": frame["labels_after"].map(join)}),
                     hide_index=True, key="ts_th_changed", column_config={"text": st.column_config.TextColumn(
                         width="large")})


def _describe(thresholds: np.ndarray) -> str:
    return f"h = {thresholds[0]:g}" if np.allclose(thresholds, thresholds[0]) else "per-label thresholds"
