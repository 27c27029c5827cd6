"""Samples: search and filter a split's texts; one text's energy bars with its human labels and the threshold."""
import numpy as np
import pandas as pd
import streamlit as st

from eqn_core.review.suggestions import LOW_ENERGY_HUMAN, SUGGESTED, filter_texts, label_lists, top_energies
from ui.auth import require_login
from ui.display import energy_bar_figure, escape_markdown, quote_text
from ui.pickers import pick_run, pick_split
from ui.session import get_workspace, load_energies, load_human_labels, load_label_names, load_texts
from ui.threshold_state import pick_thresholds
from ui.views.corpus import corpus_samples, pick_source
from ui.views.text_set_browse import text_set_samples

st.set_page_config(page_title="Samples · EQN Studio", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too

MEMBERSHIP = {"any": "any text", "human": "a human gave it", "predicted": "predicted (energy ≥ threshold)",
              "both": "human and predicted", "either": "human or predicted", "neither": "neither"}
SUGGESTION = {None: "all texts", SUGGESTED: "a suggested micro-emotion (energy ≥ threshold, no human label)",
              LOW_ENERGY_HUMAN: "a human label with low energy (below threshold)", "any": "either of these"}

st.title("Samples")
st.caption("Each text's 0-10 energy per emotion, beside the human labels where there are any. Filter, then pick a "
           "text to see its bars.")

workspace = get_workspace()
source = pick_source(workspace, key="samples")  # an external corpus or an annotated text set instead of a run
if source.corpus:
    corpus_samples(source.corpus)
    st.stop()
if source.text_set:
    text_set_samples(workspace, source.text_set)
    st.stop()
run = pick_run(workspace)
split = pick_split(workspace, run["run_id"], key="samples_split")
label_names = load_label_names(run["dataset"])
energies = load_energies(run["run_id"], split)  # (N, C)
human_labels = load_human_labels(run["dataset"], split)  # (N, C)
texts = load_texts(run["dataset"], split)
setting, thresholds = pick_thresholds(run, label_names)  # the session's setting and its (C,) array

with st.container(border=True):
    search = st.text_input("Text contains", key="samples_search", placeholder="a word or phrase (case-insensitive)")
    left, right = st.columns(2)
    emotion = left.selectbox("Emotion", [None, *label_names], key="samples_emotion",
                             format_func=lambda name: "any emotion" if name is None else name)
    suggestion = right.selectbox("Texts with", list(SUGGESTION), key="samples_suggestion", format_func=SUGGESTION.get,
                                 help="For the chosen emotion, or any emotion when none is chosen.")
    membership, energy_range = "any", None
    if emotion is not None:
        membership = left.selectbox(f"{emotion} is", list(MEMBERSHIP), key="samples_membership",
                                    format_func=MEMBERSHIP.get)
        energy_range = right.slider(f"{emotion} energy between", 0.0, 10.0, (0.0, 10.0), step=0.1,
                                    key="samples_energy_range")

label_id = None if emotion is None else label_names.index(emotion)
matches = filter_texts(energies, human_labels, thresholds, label_id=label_id, membership=membership,
                       energy_range=energy_range, suggestion=suggestion)  # (N,) bool
if search:
    found = workspace.texts(run["dataset"], split, search=search)["row_idx"].to_numpy()
    matches &= np.isin(np.arange(len(matches)), found)
rows = np.flatnonzero(matches)

table = pd.DataFrame({"row": rows, "text": texts["text"].to_numpy()[rows],
                      "human labels": np.asarray(label_lists(human_labels[rows], label_names), dtype=object),
                      "top energies": np.asarray(top_energies(energies[rows], label_names), dtype=object)})
if emotion is not None:
    table.insert(2, f"{emotion} energy", np.round(energies[rows, label_id].astype(np.float64), 2))
    table = table.sort_values(f"{emotion} energy", ascending=False, kind="stable")
st.write(f"**{len(table):,}** of {len(texts):,} texts match ({escape_markdown(setting.describe(len(label_names)))}).")
if table.empty:
    st.info("No text matches these filters; widen them.")
    st.stop()
event = st.dataframe(table, hide_index=True, key="samples_table", on_select="rerun", selection_mode="single-row",
                     column_config={"text": st.column_config.TextColumn(width="large")})

# A row clicked in the table becomes the shown text; the select box also works from the keyboard.
options = table["row"].tolist()
clicked = event.selection.rows if event is not None else []
if clicked:
    picked = int(table.iloc[clicked[0]]["row"])
    if st.session_state.get("_samples_clicked") != picked:
        st.session_state["_samples_clicked"] = picked
        st.session_state["samples_text"] = picked
if st.session_state.get("samples_text") not in options:
    st.session_state.pop("samples_text", None)
texts_by_row = texts["text"].to_numpy()
row_idx = st.selectbox("Text to show", options, key="samples_text",
                       format_func=lambda row: f"row {row}: {texts_by_row[row][:90]}")

st.markdown(quote_text(texts_by_row[row_idx]))
given = label_lists(human_labels[[row_idx]], label_names)[0]
st.caption(f"Row {row_idx} · id {escape_markdown(texts['text_id'].iloc[row_idx])} · human labels: "
           f"{escape_markdown(given or 'none')}")
figure = energy_bar_figure(energies[row_idx], human_labels[row_idx], label_names, thresholds,
                           per_label=setting.per_label)
st.plotly_chart(figure, key="samples_energy_bars")
