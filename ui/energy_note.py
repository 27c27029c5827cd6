"""The "About energies" note of Try it and Review: what an energy means, in plain words, from what was measured.

The figures come from the run's metrics (key "intensity", written by scripts/package_model.py with
eqn_core.runs.intensity: the model's energy against crowd-rated intensity on tweets it never saw, and the same
for a BCE baseline trained with the same budget). A run without them gets the note without figures.
"""
from __future__ import annotations

import streamlit as st

from eqn_core.io.intensity_sets import EMOINT_EMOTIONS
from ui.display import escape_markdown

MEANING = ("An energy (0-10) says how clearly the model sees an emotion in a text; the threshold h turns it into a "
           "yes/no label. Whether a higher energy also means a more *intense* emotion is a separate question.")


def intensity_sentences(run_id: str, intensity: dict | None) -> list[str]:
    """The note's sentences about intensity for a run's metrics["intensity"] (None: not measured)."""
    if not intensity:
        return [f"How well the energies of **{escape_markdown(run_id)}** rank intensity has not been measured "
                "(`python benchmarks/intensity.py --runs RUN` measures it)."]
    per = ", ".join(f"{emotion} {intensity['emotions'][emotion]['spearman']:.2f}" for emotion in EMOINT_EMOTIONS)
    sentences = [f"Measured on tweets whose anger, fear, joy and sadness intensity people rated ({intensity['data']}"
                 f"; never trained on), the energies of **{escape_markdown(run_id)}** rank intensity with a Spearman "
                 f"correlation of **{intensity['mean_spearman']:.2f}** on average ({per}; 1 is the raters' order, "
                 "0 no relation)."]
    baseline = intensity.get("baseline")
    if baseline:
        ahead = [e for e in EMOINT_EMOTIONS
                 if baseline["emotions"][e]["spearman"] > intensity["emotions"][e]["spearman"]]
        sentences.append(f"A plain BCE model trained with the same budget ({escape_markdown(baseline['run'])}) "
                         f"ranks it at **{baseline['mean_spearman']:.2f}**.")
        if baseline["mean_spearman"] > intensity["mean_spearman"]:
            sentences.append(f"So the baseline's probability still orders intensity better"
                             f"{' (on ' + ', '.join(ahead) + ')' if ahead else ''}: read an energy as how clearly an "
                             "emotion is present more than as how strong it is. A text at 8 is more likely to hold "
                             "the emotion than one at 3, but between texts with similar energies the order says "
                             "little about intensity.")
        else:
            sentences.append("The energy orders intensity at least as well as the baseline's probability.")
    return sentences


def about_energies(run: dict) -> None:
    """An expander with the note for `run` (the shipped model's figures when it is that model)."""
    with st.expander("About energies: what a 0-10 value means", icon=":material/info:"):
        intensity = (run.get("metrics") or {}).get("intensity")
        st.markdown(" ".join([MEANING, *intensity_sentences(run["run_id"], intensity)]))
