"""The Streamlit app: ``streamlit run app/Home.py``. Pages ask ``core`` and draw; no maths here."""
