"""Fund sustainability forecast (基金运行预测): income, expense and balance of every pooling region x insutype for
the next months, the risk level each month would have, and the first month a warning would be raised.

``run_forecast(settings)`` runs the stage (series, dbt models, backtest); ``yibao forecast run`` is the command line.
See README.md.
"""


def run_forecast(settings, overrides=None, on_step=None, build_models=True):
    from yibao.forecast.pipeline import run_forecast as _run

    return _run(settings, overrides, on_step, build_models)


__all__ = ["run_forecast"]
