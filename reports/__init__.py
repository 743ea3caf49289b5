"""Reports and alerts delivered to subscribers: the last stage of the data's journey, after the dashboards.

The gold tables become periodic reports (月报 / 季报 / 年报, xlsx per region and period: :mod:`.periodic`) and
alerts (new high-risk suspects, a fund's risk level changing, a held batch: :mod:`.alerts`) for whoever subscribed
(``meta.report_subscription``, managed with ``yibao reports subscribe|unsubscribe|list``: :mod:`.subscriptions`).
:func:`run_reports` delivers what is due, to a folder per recipient and by mail when a relay is configured
(:mod:`.delivery`); the pipeline runs it after every run (stage ``reports``), ``yibao reports run`` on demand.
A recipient only ever receives the rows of the subscribed region (``yibao.regions``, the dashboards' rule).
"""

from yibao.reports.delivery import DeliverySummary, run_reports

__all__ = ["DeliverySummary", "run_reports"]
