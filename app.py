"""EQN Studio: the entry point. It names the pages and routes between them; each page is a thin script in app_pages/."""
import streamlit as st

from eqn_core.store.database import WorkspaceBusyError, WorkspaceDamagedError
from ui.auth import account_sidebar, current_user, require_login

st.set_page_config(page_title="EQN Studio", page_icon="🎚️", layout="wide")

PAGES = [  # (file, sidebar label, icon, URL path); the home page is served at /
    ("app_pages/0_Home.py", "Home", ":material/home:", None),
    ("app_pages/1_Data.py", "Data", ":material/upload_file:", "Data"),
    ("app_pages/2_Train.py", "Train", ":material/model_training:", "Train"),
    ("app_pages/3_Thresholds.py", "Thresholds", ":material/tune:", "Thresholds"),
    ("app_pages/4_Samples.py", "Samples", ":material/article:", "Samples"),
    ("app_pages/5_Correlations.py", "Correlations", ":material/grid_on:", "Correlations"),
    ("app_pages/6_Review.py", "Review", ":material/rate_review:", "Review"),
    ("app_pages/7_Export.py", "Export", ":material/download:", "Export"),
    ("app_pages/8_Try_it.py", "Try it", ":material/edit_note:", "Try_it"),
]
ADMIN_PAGES = {"Data", "Train", "Export"}  # admins load data, train, delete and export; reviewers review and read

try:
    user = current_user()
    if not (user.local or user.name):  # accounts are set up and no one is signed in: only the sign-in page exists
        # every page's URL leads to the sign-in form, so a deep link (/Review) opens that page once signed in
        st.navigation([st.Page(require_login, title="Sign in", icon=":material/login:", default=True)]
                      + [st.Page(require_login, title=title, url_path=url_path) for _, title, _, url_path in PAGES
                         if url_path], position="hidden").run()
    else:
        account_sidebar(user)
        st.navigation([st.Page(file, title=title, icon=icon, url_path=url_path, default=url_path is None)
                       for file, title, icon, url_path in PAGES if user.is_admin or title not in ADMIN_PAGES]).run()
except WorkspaceBusyError as error:  # a long CLI command holds the database: say so, offer to try again
    st.warning(str(error))
    st.button("Try again", key="workspace_busy_retry")
except WorkspaceDamagedError as error:
    st.error(str(error))
