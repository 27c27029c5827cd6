"""Review: one text at a time with every emotion's energy, the suggestions highlighted; submitted once, revisable;
for admins, the review mode (blind or open), assignments, agreement between reviewers and adjudication of their
disagreements. The views are in ui/review_views.py, the rules in eqn_core.review and eqn_core.agreement."""
import streamlit as st

from ui.common import (escape_markdown, get_workspace, load_label_names, pick_run, pick_split, pick_thresholds,
                       require_login, show_flash)
from ui.review_views import STYLE, pick_section, review_context, show_section

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
run = pick_run(workspace)
split = pick_split(workspace, run["run_id"], key="review_split")
choice = pick_thresholds(workspace, run, load_label_names(run["dataset"]), key="review")
context = review_context(workspace, run, split, user, choice["thresholds"])
show_section(pick_section(user), context)
