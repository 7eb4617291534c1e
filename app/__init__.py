"""The labelclean review app: ``labelclean review audit.parquet`` (Streamlit, on 127.0.0.1).

Logic (no Streamlit, tested directly):

- ``review`` — the audit ranked for review, filters, pages, overview counts;
- ``state`` — one session's view and undo history, and the grid's queue of actions applied
  once each;
- ``sources`` — which image files may be served, and the pictures the browser gets;
- ``decisions`` — the decisions file, undo, the corrections export and its code snippets;
- ``demo_audit`` — makes the demo's audit in a child process.

Drawing (Streamlit):

- ``main`` — the entry: opens the audit and puts the parts below on the page;
- ``sidebar`` — the audit picker and the review filters; ``header`` — title and counts;
- ``grid`` — the Review view, around one component (``grid.js``, ``grid.css``) that draws
  the cards, the relabel menu, the larger view of one sample and handles the keys;
  ``cards`` builds the data it draws; the filters are one component too (``filters.js``);
  ``components`` registers both;
- ``overview``, ``export``, ``start`` — the other views; ``actions`` — what clicks and keys do;
- ``style.css`` — the page's styles.
"""
