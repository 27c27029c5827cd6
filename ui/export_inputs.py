"""The inputs every export form shares (runs, corpora, own texts): the file name in the exports folder, checked, and
whether to replace an existing file and neutralise formula-like CSV cells."""
from __future__ import annotations

import streamlit as st

from eqn_core.export.files import export_file_name_problem


def export_file_name(default_name: str, fmt: str, *, key: str, problem: str | None = None) -> tuple[str, str | None]:
    """The file name typed (default_name to start) and what is wrong with it, or with the export (problem), shown as
    a warning; (name, None) when it may be written."""
    name = st.text_input("File name (in the workspace's exports folder)", value=default_name,
                         key=f"{key}_name_{default_name}")
    problem = export_file_name_problem(name, fmt) or problem
    if problem:
        st.warning(problem)
    return name, problem


def export_file_options(fmt: str, *, key: str) -> tuple[bool, bool]:
    """(overwrite, neutralize_formulas) from two check boxes."""
    left, right = st.columns(2)
    overwrite = left.checkbox("Replace the file if it exists", value=False, key=f"{key}_overwrite")
    neutralize = right.checkbox("CSV: make formula-like cells inert", value=True, key=f"{key}_neutralize",
                                disabled=fmt != "csv",
                                help="A cell that starts with = + - @ tab or CR gets a leading ' so a spreadsheet "
                                     "shows it as text instead of running it as a formula. Parquet and JSONL keep "
                                     "the raw text.")
    return overwrite, neutralize
