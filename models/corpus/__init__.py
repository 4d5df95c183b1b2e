"""Heads across a corpus: every head's statistics over many inputs (compute.py: one batch; job.py: reading,
resuming, assembling the Parquet output; backends.py: here or on Ray Data). Command line: `python -m models.corpus`.
"""
