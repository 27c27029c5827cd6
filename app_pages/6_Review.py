"""Review: one text at a time with every emotion's energy, the suggestions highlighted; submitted once, revisable; a
labelled data set's split or one's own texts (a text set's finished annotation);
for admins, the review mode (blind or open), assignments, agreement between reviewers and adjudication of their
disagreements. The views are in ui/views/review.py and ui/views/review_team.py, the rules in eqn_core.review."""
import streamlit as st

from ui.auth import require_login
from ui.display import escape_markdown, show_flash
from ui.energy_note import about_energies
from ui.pickers import pick_run, pick_split
from ui.session import get_workspace, load_label_names
from ui.threshold_state import pick_thresholds
from ui.views.review import STYLE, pick_section, review_context, show_section, text_set_review_context
from ui.views.text_set_reads import session_run
from ui.views.text_set_review import pick_review_source

st.set_page_config(page_title="Review · EQN Studio", layout="wide")
user = require_login()

st.title("Review")
st.caption("One text at a time: every emotion's 0-10 energy from the model, the human labels, and the suggested "
           "micro-emotions (energy at or above the threshold where no person gave the label). Change any energy, "
           "untick a suggestion to reject it, add an emotion the model missed, then submit: the text's decisions "
           f"are saved at once under your account ({escape_markdown(user.name)}) and the next text appears.")
show_flash()
st.markdown(STYLE, unsafe_allow_html=True)

workspace = get_workspace()
text_set = pick_review_source(workspace)  # a finished annotation of own texts, or None for a labelled split
if text_set is None:
    run = pick_run(workspace)
    split = pick_split(workspace, run["run_id"], key="review_split")
    _, thresholds = pick_thresholds(run, load_label_names(run["dataset"]))  # the session's setting, as a (C,) array
    context = review_context(workspace, run, split, user, thresholds)
else:
    run = session_run(workspace, text_set)[0]
    _, thresholds = pick_thresholds(run, list(text_set.label_names))
    context = text_set_review_context(workspace, text_set, user, thresholds)
about_energies(run)
show_section(pick_section(user), context)
