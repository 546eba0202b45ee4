"""Entry point (``streamlit run app/Home.py``): the page list, the shared sidebar, the page.

Draws the sidebar once for every page (Streamlit's documented way to keep widgets across
pages with ``st.navigation``) and runs the selected page from :data:`app.navigation.PAGES`;
around it, the work computed ahead of the user (:mod:`core.ahead`) stops when the configuration
changes and starts again when the page has drawn whole with nothing computing.
"""

import streamlit as st

from app import navigation, sidebar, widgets

st.set_page_config(page_title="Hessian spectrum explorer", page_icon=":material/ssid_chart:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto")
page = st.navigation([st.Page(p.path, title=p.title, url_path=p.url_path or None, icon=p.icon, default=p.default)
                      for p in navigation.PAGES])
selection = sidebar.draw()
widgets.stop_ahead_if_changed(selection)
page.run()
if navigation.page_info(page.url_path).reads_configuration:  # not reached when the page stops or reruns
    widgets.compute_ahead_when_idle(selection)
