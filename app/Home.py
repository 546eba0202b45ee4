"""Entry point (``streamlit run app/Home.py``): the page list, the shared sidebar, the page.

Draws the sidebar once for every page (Streamlit's documented way to keep widgets across
pages with ``st.navigation``) and runs the selected page from :data:`app.navigation.PAGES`.
"""

import streamlit as st

from app import navigation, sidebar

st.set_page_config(page_title="Hessian spectrum explorer", page_icon=":material/ssid_chart:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto")
page = st.navigation([st.Page(p.path, title=p.title, url_path=p.url_path or None, icon=p.icon, default=p.default)
                      for p in navigation.PAGES])
sidebar.draw()
page.run()
