"""dbt layers of the lakehouse (staging -> intermediate -> marts), run in-process on the engine session.

``run_dbt(settings, args)`` runs any dbt command against the project in ``dbt_project/``;
``build(settings)`` runs seed + run + test.  See ``dbt_project/README.md``.
"""

from yibao.transform.runner import build, dbt_vars, project_dir, record_seeds, run_dbt, seeds_loaded

__all__ = ["build", "dbt_vars", "project_dir", "record_seeds", "run_dbt", "seeds_loaded"]
