"""Each page's views: the widgets and figures of one page of app_pages/ (data, train, thresholds, review and its
Team section, corpus for the pages that read an external corpus); the rules behind them live in eqn_core."""
