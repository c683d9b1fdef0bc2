"""The per-layer report of a compiled model: built in layers.py, rendered as text and
Markdown (table.py) or as one self-contained HTML page with plots (html.py, plots.py)."""
