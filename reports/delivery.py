"""Delivery: the due reports and alerts of every active subscription, to the recipient's folder and mailbox.

Every file goes to the outbox, one folder per recipient (``<data_root>/reports/outbox/<recipient>/``, setting
``reports_outbox``): ``月报_<region>_<period>.xlsx``, ``预警_<topic>_<region>_<time>.xlsx``.  When ``smtp_host`` is
set and the subscription has an e-mail address, the file is also mailed (plain SMTP to a local relay, which
forwards; no credentials are kept).  Every delivery is one row of ``meta.report_delivery`` (who, what, which
period, rows, file, channel, status): the record of what left the warehouse.

Idempotent: a report period already delivered to a subscription is not delivered again (``--force`` rebuilds it);
an alert sends only items not sent before (``yibao.reports.alerts``).  A mail that fails is recorded as
``mail_failed`` with the error and re-sent at the next run; the file is in the outbox either way.  A crash between
the file and its record re-delivers on the next run (at least once, never lost).
"""

from __future__ import annotations

import smtplib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

import pandas as pd
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.engine import spark_session
from yibao.export import file_part, write_xlsx
from yibao.regions import divisions_seed, pooling_region, province_regions
from yibao.reports import alerts, periodic
from yibao.reports.subscriptions import ALERTS, TOPICS, subscriptions

LOG_DDL = ("delivery_id string, subscription_id string, recipient string, email string, region string, kind string, "
           "topic string, period string, file string, row_count long, delivered_at timestamp, channel string, "
           "status string, error string")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class DeliverySummary:
    delivered: list[dict] = field(default_factory=list)     # one per file written
    mailed: int = 0
    mail_failures: list[str] = field(default_factory=list)
    skipped: int = 0                                        # reports already delivered, alerts with nothing new
    failures: list[str] = field(default_factory=list)       # a subscription that could not be served (logged)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _last_delivered(cat: Catalog) -> dict[str, str]:
    """subscription_id -> the latest report period delivered to it."""
    if not cat.exists("meta", "report_delivery"):
        return {}
    rows = (cat.read("meta", "report_delivery").where((F.col("kind") == "report") & (F.col("status") != "failed"))
            .groupBy("subscription_id").agg(F.max("period").alias("period")).collect())
    return {r.subscription_id: r.period for r in rows}


RATE_WORDS = ("率", "比例", "占比", "同比", "环比")


def number_format(header: str, row: dict) -> str | None:
    """Excel formats of a report's numbers: rates as percentages with one decimal, amounts with two decimals,
    counts with thousands separators (the overview's value column follows its row's unit)."""
    if header == "数值":
        unit = row.get("单位")
        return "0.0%" if unit == "比率" else "#,##0.00" if unit == "万元" else "#,##0"
    if str(header).endswith(RATE_WORDS):
        return "0.0%"
    if "(元)" in str(header):
        return "#,##0.00"
    if "月数" in str(header):
        return "0.0"
    if str(header).endswith(("人数", "人次", "数", "增减")) or header in ("新增参保", "暂停参保", "终止参保", "险种转换转入"):
        return "#,##0"
    return None


def _write(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write the workbook through a temporary name, so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_xlsx(sheets, tmp, number_format=number_format)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _mail(settings: Settings, to: str, subject: str, body: str, attachment: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.smtp_from, to, subject
    msg.set_content(body)
    msg.add_attachment(attachment.read_bytes(), maintype=XLSX.split("/")[0], subtype=XLSX.split("/")[1],
                       filename=attachment.name)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)


def run_reports(settings: Settings, *, force: bool = False, only: str | None = None,
                on_item: Callable[[str], None] | None = None) -> DeliverySummary:
    """Deliver what is due to every active subscription (or only subscription ``only``)."""
    cat = Catalog(spark_session(settings), settings)
    out = DeliverySummary()
    subs = [s for s in subscriptions(cat) if only is None or s["subscription_id"] == only]
    if only is not None and not subs:
        raise LookupError(f"no active subscription {only!r} (yibao reports list)")
    _resend_failed_mail(settings, cat, out)
    if not subs:
        return out
    names = periodic.code_names(cat)
    last = {} if force else _last_delivered(cat)
    outbox = settings.outbox
    seed = divisions_seed(settings)
    log_rows, state_rows = [], []
    for s in subs:
        if on_item:
            on_item(f"{s['recipient']} {TOPICS[s['topic']]} {s['region_name']}")
        try:
            _one(settings, cat, s, outbox / s["recipient"], seed, names, force, last, out, log_rows, state_rows)
        except Exception as exc:    # one subscription's failure must not stop the others, nor the pipeline
            error = f"{type(exc).__name__}: {exc}"
            out.failures.append(f"{s['recipient']} {s['topic']} {s['region']}: {error}")
            log_rows.append((uuid.uuid4().hex, s["subscription_id"], s["recipient"], s.get("email"), s["region"],
                             s["kind"], s["topic"], None, None, 0, _now(), "none", "failed", error[:2000]))
    if state_rows:
        cat.ensure("meta", "report_alert_state", alerts.STATE_DDL)
        df = cat.spark.createDataFrame(state_rows, alerts.STATE_DDL)
        cat.upsert(df, "meta", "report_alert_state", ["subscription_id", "item"])
    if log_rows:
        cat.ensure("meta", "report_delivery", LOG_DDL)
        cat.append(cat.spark.createDataFrame(log_rows, LOG_DDL), "meta", "report_delivery")
    return out


def _one(settings: Settings, cat: Catalog, s: dict, folder: Path, seed: Path, names: dict, force: bool,
         last: dict, out: DeliverySummary, log_rows: list, state_rows: list) -> None:
    """Deliver what is due to one subscription (appends its log and alert-state rows)."""
    if s["kind"] == "report":
        due = ([periodic.latest_period(s["topic"], settings.reference_date)] if force
               else periodic.periods_due(s["topic"], settings.reference_date, last.get(s["subscription_id"])))
        if not due:
            out.skipped += 1
        for p in due:
            sheets = periodic.build_report(cat, s["region"], s["region_name"], p,
                                           pool=pooling_region(s["region"], seed))
            path = folder / f"{periodic.KINDS[p.kind]}_{s['region']}_{file_part(s['region_name'])}_{p.label}.xlsx"
            _write(sheets, path)
            subject = f"【医保数据湖仓】{s['region_name']}{p.title}{periodic.KINDS[p.kind]}"
            body = "\n".join([subject, "", *periodic.summary_lines(sheets), "", f"明细见附件 {path.name}。"])
            rows = sum(len(v) for k, v in sheets.items() if k != "概览")
            log_rows.append(_deliver(settings, out, s, p.label, path, rows, subject, body))
    else:
        sent = alerts.sent_state(cat, s["subscription_id"])
        frame, state = alerts.evaluate(cat, s["topic"], s["region"], sent, names)
        if not frame.empty:
            stamp = _now().strftime("%Y%m%dT%H%M%S")
            label = ALERTS[s["topic"]]
            path = folder / f"预警_{label}_{s['region']}_{stamp}.xlsx"
            _write({label: frame}, path)
            subject = f"【医保数据湖仓预警】{s['region_name']} {label} {len(frame)} 条"
            body = "\n".join([subject, "", f"生成时间 (UTC)：{stamp}", f"明细见附件 {path.name}。"])
            log_rows.append(_deliver(settings, out, s, stamp, path, len(frame), subject, body))
        else:
            out.skipped += 1
        # recorded only once delivered: an alert that failed is evaluated again next time
        state_rows += [(s["subscription_id"], k, v, _now()) for k, v in state.items()]


def _deliver(settings: Settings, out: DeliverySummary, s: dict, period: str, path: Path, rows: int, subject: str,
             body: str) -> tuple:
    """Mail the file when configured; the delivery's log row."""
    channel, status, error = "folder", "delivered", None
    if settings.smtp_host and s.get("email"):
        channel = "folder+mail"
        try:
            _mail(settings, s["email"], subject, body, path)
            out.mailed += 1
        except (OSError, smtplib.SMTPException) as exc:
            status, error = "mail_failed", f"{type(exc).__name__}: {exc}"
            out.mail_failures.append(f"{s['recipient']} <{s['email']}> {path.name}: {error}")
    rec = {"subscription_id": s["subscription_id"], "recipient": s["recipient"], "topic": s["topic"],
           "period": period, "file": str(path), "rows": rows, "status": status}
    out.delivered.append(rec)
    return (uuid.uuid4().hex, s["subscription_id"], s["recipient"], s.get("email"), s["region"], s["kind"],
            s["topic"], period, str(path), int(rows), _now(), channel, status, error)


def _resend_failed_mail(settings: Settings, cat: Catalog, out: DeliverySummary) -> None:
    """Re-send the mails that failed before (their files are in the outbox); a success is recorded by a new row
    with status ``delivered`` for the same file."""
    if not settings.smtp_host or not cat.exists("meta", "report_delivery"):
        return
    log = cat.read("meta", "report_delivery")
    latest = (log.groupBy("subscription_id", "file").agg(F.max("delivered_at").alias("delivered_at"))
              .join(log, ["subscription_id", "file", "delivered_at"]).where(F.col("status") == "mail_failed")
              .collect())
    rows = []
    for r in latest:
        path = Path(r.file)
        if not path.exists():
            continue
        try:
            _mail(settings, r.email, f"【医保数据湖仓】{path.stem}（补发）", f"补发：{path.name}", path)
        except (OSError, smtplib.SMTPException) as exc:
            out.mail_failures.append(f"{r.recipient} <{r.email}> {path.name}: {type(exc).__name__}: {exc}")
            continue
        out.mailed += 1
        rows.append((uuid.uuid4().hex, r.subscription_id, r.recipient, r.email, r.region, r.kind, r.topic, r.period,
                     r.file, r.row_count, _now(), "mail", "delivered", None))
    if rows:
        cat.append(cat.spark.createDataFrame(rows, LOG_DDL), "meta", "report_delivery")


def deliveries(settings: Settings, limit: int = 50) -> list[dict]:
    """The latest deliveries, newest first."""
    cat = Catalog(spark_session(settings), settings)
    if not cat.exists("meta", "report_delivery"):
        return []
    return [r.asDict() for r in cat.read("meta", "report_delivery").orderBy(F.col("delivered_at").desc())
            .limit(limit).collect()]


def build_one(settings: Settings, region: str, kind: str, label: str | None, out: Path) -> Path:
    """One report written to ``out`` (a file or a folder), outside any subscription (ad hoc)."""
    seed = divisions_seed(settings)
    names = province_regions(seed)
    if region not in names:
        raise ValueError(f"region {region} is not a division of the province")
    p = periodic.period_of(kind, label) if label else periodic.latest_period(kind, settings.reference_date)
    cat = Catalog(spark_session(settings), settings)
    sheets = periodic.build_report(cat, region, names[region], p, pool=pooling_region(region, seed))
    path = out / f"{periodic.KINDS[kind]}_{region}_{file_part(names[region])}_{p.label}.xlsx" if out.is_dir() else out
    _write(sheets, path)
    return path
