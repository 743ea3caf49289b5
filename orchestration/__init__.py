"""Orchestration: the pipeline as one run (`yibao run`) and as an asset graph."""
