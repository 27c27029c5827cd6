"""The Streamlit side of EQN Studio, shared by app.py and the pages in app_pages/: the workspace and its cached
reads (session), sign-in and accounts (auth), the run and split pickers (pickers), the session's threshold setting
(threshold_state), what pages show besides widgets (display), and each page's views (views/)."""
