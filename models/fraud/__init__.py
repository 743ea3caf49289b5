"""Fund supervision (基金监管): rules R01–R09, graph, models and the ranked suspect list.

``run_fraud(settings)`` runs everything; ``yibao suspects ...`` is the command line.  See README.md.
"""

from yibao.fraud.config import RULE_CODES, load_config


def run_fraud(settings, config=None, on_step=None):
    from yibao.fraud.pipeline import run_fraud as _run

    return _run(settings, config, on_step)


__all__ = ["RULE_CODES", "load_config", "run_fraud"]
