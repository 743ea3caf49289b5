"""Dashboards as code: the read path to the gold tables and the Superset that shows them.

- :mod:`yibao.dashboards.readpath` builds the DuckDB file Superset reads (views over the Delta tables);
  it runs in the pipeline environment.
- :mod:`yibao.dashboards.serve` creates Superset's own virtual environment, initialises its metadata
  database, imports the YAML bundle of ``dashboards/bundle``, sets up roles, row-level security and demo
  users, and starts the web server.
- ``dashboards/authoring.py`` writes the bundle; ``dashboards/superset_side/`` holds the scripts that run
  inside Superset's environment (security set-up, rendering in headless Chromium).
"""
