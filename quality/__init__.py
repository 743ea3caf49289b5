"""Data quality that stewards can act on: GE suites per table, a release gate, results, scores, reports.

Entry points: :func:`run_quality` (one layer; the pipeline calls it between layers), :func:`released_version`
and :func:`read_released` (what downstream reads).  See ``quality/README.md``.
"""

from yibao.quality.gate import read_released, released_version
from yibao.quality.run import QualityRun, TableOutcome, run_quality

__all__ = ["run_quality", "QualityRun", "TableOutcome", "released_version", "read_released"]
