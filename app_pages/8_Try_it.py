"""Try it: type a text and see the energy of every label from a finished run's model."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from eqn_core.method.inference import annotate
from eqn_core.method.thresholds import DEFAULT_THRESHOLD, ENERGY_MAX, ENERGY_MIN, reaches
from eqn_core.store.run_folders import parent_run
from eqn_core.store.shipped import shipped_reason
from ui.auth import require_login
from ui.display import escape_markdown, plot_text
from ui.energy_note import about_energies
from ui.pickers import pick_run
from ui.session import get_workspace, load_run_model_cached

st.set_page_config(page_title="Try it · EQN Studio", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too
st.title("Try it")
st.caption("Type or paste a text: the model gives every label an energy from 0 to 10.")
workspace = get_workspace()
run = pick_run(workspace, needs_energies=False)


def use_run(run_id: str) -> None:
    st.session_state["run"] = run_id
    st.session_state.pop("run_select", None)  # the picker starts again from st.session_state["run"]


parent = parent_run(run["config"])
if parent:
    st.warning(f"This run is the CoEQN model (Model 1) of EQN run **{parent}**. Only its energies were kept, "
               "not its weights, so it cannot annotate new text. The EQN run's model can.")
    st.button(f"Use {parent}", on_click=use_run, args=(parent,), type="primary", key="try_use_parent")
    st.stop()

reason = shipped_reason(run)
if reason:  # two ready models ship: say which texts each is for
    with st.expander(f"About {run['run_id']}: when to choose it", icon=":material/help:"):
        st.markdown(escape_markdown(reason[:1].upper() + reason[1:]))
        st.caption(f"Its model card: {escape_markdown(str(run['run_dir']))}/MODEL_CARD.md")

EXAMPLE = "I can't believe you remembered my birthday!"  # answered on first open: the page shows what it does
text = st.text_area("Text", value=EXAMPLE, key="try_text", height=110, help="Ctrl+Enter applies an edited text.")
threshold = st.slider("Threshold h (a line on the chart)", ENERGY_MIN, ENERGY_MAX, DEFAULT_THRESHOLD, 0.1, key="try_threshold")
try:  # loaded while the user types, so the first text is answered at once
    with st.spinner("Loading the model ..."):
        model, config, label_names = load_run_model_cached(run["run_dir"])
except Exception as error:  # a missing encoder folder, an offline Hugging Face id, deleted weights
    st.error(f"Could not load the model of run {run['run_id']}: {type(error).__name__}: {error}")
    st.stop()
if not text.strip():
    st.info("Type a text above (Ctrl+Enter applies it).")
    st.stop()
energies = annotate(model, [text], mode=config.mode, energy_scale=config.energy_scale)[0]  # (C,)

order = np.argsort(-energies, kind="stable")
names = [label_names[j] for j in order]
plotted = [plot_text(name) for name in names]  # plotly renders some HTML: names as typed
values = energies[order]
above = reaches(values[None, :], threshold)[0]  # the one threshold rule (float32, energy >= h)
figure = go.Figure(go.Bar(x=plotted, y=values, marker_color=np.where(above, "#d62728", "#9ecae1"),
                          hovertemplate="%{x}: %{y:.2f}<extra></extra>"))
figure.add_hline(y=threshold, line_dash="dash", annotation_text=f"h = {threshold:.1f}")
figure.update_layout(yaxis_range=[0, 10], yaxis_title="energy", height=380, margin={"t": 10, "b": 10})
st.plotly_chart(figure, key="try_chart")
given = ", ".join(f"{name} {value:.1f}" for name, value, counts in zip(names, values, above) if counts)
st.markdown(f"**Labels at h = {threshold:.1f}:** {escape_markdown(given or 'none')}")
with st.expander("All energies"):
    st.dataframe({"label": names, "energy": np.round(values, 3)}, hide_index=True, key="try_table")
about_energies(run)
