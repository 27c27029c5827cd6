"""Correlations: Pearson heatmaps of a split's energies for two runs side by side, and their difference."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from eqn_core.method.metrics import cluster_order, mean_off_diagonal, pearson_matrix
from ui.auth import require_login
from ui.display import plot_text
from ui.pickers import finished_runs, pick_run
from ui.session import get_workspace, load_energies, load_label_names

st.set_page_config(page_title="Correlations · EQN Studio", layout="wide")
require_login()  # a direct link to this page needs a signed-in user too

ORDERS = {"labels": "label order", "a": "clustered on run A", "b": "clustered on run B"}


def heatmap(matrix: np.ndarray, labels: list[str], *, title: str, limit: float = 1.0) -> go.Figure:
    labels = [plot_text(label) for label in labels]  # plotly renders some HTML: names as typed
    figure = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, zmin=-limit, zmax=limit, zmid=0.0,
                                  colorscale="RdBu_r", hovertemplate="%{y} · %{x}: r = %{z:.3f}<extra></extra>"))
    figure.update_layout(title=title, height=560, yaxis_autorange="reversed", margin={"t": 40, "l": 10, "r": 10},
                         xaxis_tickangle=-45)
    return figure


st.title("Correlations")
st.caption("Pearson correlation between the emotions' energies over the texts of a split (the paper's Figures "
           "8-9). Put an EQN run beside its Model 1 (CoEQN, stored as \"<run>.model1\") to see what label "
           "regression changed; the third map is B − A.")

workspace = get_workspace()
runs = finished_runs(workspace)
if runs.empty:
    st.info("No finished run yet. Train one on the **Train** page.")
    st.stop()
run_ids = runs["run_id"].tolist()
if "corr_run_a" not in st.session_state:  # first visit: an EQN run and its Model 1, as in the paper
    pairs = [(f"{run_id}.model1", run_id) for run_id in run_ids if f"{run_id}.model1" in run_ids]
    first, second = pairs[0] if pairs else (run_ids[0], run_ids[min(1, len(run_ids) - 1)])
    st.session_state["corr_run_a"], st.session_state["corr_run_b"] = first, second

left, right = st.columns(2)
with left:
    run_a = pick_run(workspace, key="corr_run_a", label="Run A")
with right:
    run_b = pick_run(workspace, key="corr_run_b", label="Run B (same data set)", dataset=run_a["dataset"])
splits = [split for split in workspace.energy_splits(run_a["run_id"])
          if split in workspace.energy_splits(run_b["run_id"])]
if not splits:
    st.warning(f"Runs {run_a['run_id']} and {run_b['run_id']} have no split with energies in common.")
    st.stop()
left, right = st.columns(2)
split = left.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="corr_split")
order_by = right.selectbox("Order emotions", list(ORDERS), format_func=ORDERS.get, key="corr_order",
                           help="Hierarchical clustering (average linkage on 1 − r) puts emotions that rise "
                                "and fall together next to each other.")

label_names = load_label_names(run_a["dataset"])
matrix_a = pearson_matrix(load_energies(run_a["run_id"], split))  # (C, C)
matrix_b = pearson_matrix(load_energies(run_b["run_id"], split))  # (C, C)
order = list(range(len(label_names))) if order_by == "labels" else cluster_order(
    matrix_a if order_by == "a" else matrix_b)
labels = [label_names[i] for i in order]
same_run = run_a["run_id"] == run_b["run_id"]

columns = st.columns(1 if same_run else 2)
for column, run, matrix, name in zip(columns, (run_a, run_b), (matrix_a, matrix_b), ("A", "B")):
    with column:
        st.metric(f"Run {name}: mean off-diagonal r", f"{mean_off_diagonal(matrix):.3f}")
        st.plotly_chart(heatmap(matrix[np.ix_(order, order)], labels,
                                title=f"{name}: {run['run_id']} ({run['mode']}, {split})"),
                        key=f"corr_heatmap_{name.lower()}")
if same_run:
    st.caption("Pick a different run B to compare two runs and see their difference.")
    st.stop()

difference = matrix_b - matrix_a  # (C, C)
limit = float(np.abs(difference).max()) or 1.0
st.metric("B − A: mean off-diagonal difference", f"{mean_off_diagonal(difference):+.3f}")
st.plotly_chart(heatmap(difference[np.ix_(order, order)], labels, limit=limit,
                        title=f"Difference B − A ({run_b['run_id']} − {run_a['run_id']})"),
                key="corr_heatmap_difference")
