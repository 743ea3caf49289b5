"""Subscriptions (订阅): who receives which report or alert, for which region.  ``meta.report_subscription``.

A subscription is one row: the recipient (a user name, also the name of the recipient's folder in the outbox), an
optional e-mail address, the region (a 6-digit division code of the province: the province, a prefecture or a
county; the recipient sees only that region's rows, by the dashboards' rule ``yibao.regions``) and the topic:

- reports  ``monthly`` 月报, ``quarterly`` 季报, ``annual`` 年报: the region's figures of each completed period;
- alerts   ``high_risk_suspects`` 新增高风险疑点, ``fund_risk_change`` 基金风险等级变化, ``batch_held`` 数据批次被暂扣
  (a batch or table version held at the door or the quality gate: a province-wide event, sent whatever the region).

Subscribing twice to the same (recipient, region, topic) returns the active subscription (idempotent).  Cancelling
keeps the row (``active = false``, who and when): the table is the record of who was sent what.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.regions import admdvs_prefix, province_regions

DDL = ("subscription_id string, recipient string, email string, region string, region_name string, kind string, "
       "topic string, fmt string, created_by string, created_at timestamp, active boolean, cancelled_by string, "
       "cancelled_at timestamp")

REPORTS = {"monthly": "月报", "quarterly": "季报", "annual": "年报"}
ALERTS = {"high_risk_suspects": "新增高风险疑点", "fund_risk_change": "基金风险等级变化", "batch_held": "数据批次被暂扣"}
TOPICS = {**REPORTS, **ALERTS}
FORMATS = ("xlsx",)

_RECIPIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")     # a folder name on every file system
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9.-]+$")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def validate(recipient: str, region: str, topic: str, email: str | None, fmt: str, seed) -> str:
    """Check a subscription's fields; returns the region's name.  Raises ``ValueError`` with the reason."""
    if not _RECIPIENT.match(recipient or ""):
        raise ValueError(f"recipient must be 1-64 letters, digits, '.', '_' or '-' (it names a folder), "
                         f"not {recipient!r}")
    if topic not in TOPICS:
        raise ValueError(f"topic must be one of {', '.join(TOPICS)}, not {topic!r}")
    if email is not None and not _EMAIL.match(email):
        raise ValueError(f"not an e-mail address: {email!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    admdvs_prefix(region)    # raises for a malformed code
    names = province_regions(seed)
    if region not in names:
        raise ValueError(f"region {region} is not a division of the province (dbt_project/seeds/gbt2260_divisions.csv)")
    return names[region]


def subscribe(cat: Catalog, seed, recipient: str, region: str, topic: str, email: str | None = None,
              fmt: str = "xlsx", by: str | None = None) -> dict:
    """Add a subscription (or return the active one for the same recipient, region and topic)."""
    from yibao.decisions import current_user

    region = str(region).strip()
    region_name = validate(recipient, region, topic, email, fmt, seed)
    for s in subscriptions(cat):
        if (s["recipient"], s["region"], s["topic"]) == (recipient, region, topic):
            return s
    rec = {"subscription_id": uuid.uuid4().hex[:12], "recipient": recipient, "email": email, "region": region,
           "region_name": region_name, "kind": "report" if topic in REPORTS else "alert", "topic": topic,
           "fmt": fmt, "created_by": by or current_user(), "created_at": _now(), "active": True,
           "cancelled_by": None, "cancelled_at": None}
    cat.ensure("meta", "report_subscription", DDL)
    cat.append(cat.spark.createDataFrame([tuple(rec.values())], DDL), "meta", "report_subscription")
    return rec


def unsubscribe(cat: Catalog, subscription_id: str, by: str | None = None) -> dict:
    """Cancel an active subscription; ``LookupError`` when there is none with that id."""
    from yibao.decisions import current_user

    active = [s for s in subscriptions(cat) if s["subscription_id"] == subscription_id]
    if not active:
        raise LookupError(f"no active subscription {subscription_id!r} (yibao reports list)")
    rec = {**active[0], "active": False, "cancelled_by": by or current_user(), "cancelled_at": _now()}
    df = cat.spark.createDataFrame([tuple(rec[c] for c in _columns())], DDL)
    cat.upsert(df, "meta", "report_subscription", ["subscription_id"])
    return rec


def subscriptions(cat: Catalog, active_only: bool = True) -> list[dict]:
    """The subscriptions, oldest first (only the active ones unless ``active_only`` is false)."""
    if not cat.exists("meta", "report_subscription"):
        return []
    df = cat.read("meta", "report_subscription")
    if active_only:
        df = df.where(F.col("active"))
    return [r.asDict() for r in df.orderBy("created_at", "subscription_id").collect()]


def _columns() -> list[str]:
    return [part.strip().split(" ")[0] for part in DDL.split(",")]
