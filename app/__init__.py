"""The labelclean review app: `streamlit run app/main.py` (logic in `app.review`)."""
