"""The case workflow of a suspect (疑点核查办理): scanned → assigned → investigated → submitted → reviewed.

Statuses, as stored and shown:

    待核查 (scanned: on the list, nobody on it yet)
      → 已分派 (assigned: an assignee and a deadline)
      → 核查中 (being investigated)
      → 已提交 (findings submitted for review)
      → 已确认 / 已排除 (reviewed: confirmed / dismissed; both become training and calibration labels)

Allowed moves are :data:`TRANSITIONS` (a case can be reassigned, returned to the pool, sent back from review,
and a concluded case reopened).  Every action, a comment included, appends one row to ``meta.suspect_review``,
the audit log: who (``reviewer``), what (``action``), the status before and after, the note, the assignee and
deadline in force after it, an attached file, and when.  The latest row of a suspect is its case: assignee and
deadline carry over from row to row until an action changes them.  ``suspect_id`` is derived from the subject,
so a re-score finds every case again (``suspects.assemble`` applies status, assignee and deadline).

Attachments (``--attach``): the file is copied into ``<data_root>/cases/<suspect_id>/`` under a name made of its
SHA-256 and a sanitised base name (nothing from the path is trusted); the row records that name.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from yibao.catalog import Catalog
from yibao.faults import checkpoint
from yibao.fraud.config import load_config

REVIEW_DDL = ("suspect_id string, subject_type string, subject_id string, status string, prev_status string, "
              "reviewer string, note string, updated_at timestamp, action string, assignee string, deadline date, "
              "attachment string")
OPEN = ("已分派", "核查中", "已提交")           # a deadline runs while a case is in one of these
TRANSITIONS = {"待核查": {"已分派", "核查中", "已确认", "已排除"},
               "已分派": {"已分派", "待核查", "核查中", "已排除"},
               "核查中": {"待核查", "已分派", "已提交", "已确认", "已排除"},
               "已提交": {"核查中", "已确认", "已排除"},
               "已确认": {"核查中"}, "已排除": {"核查中"}}
ACTIONS = {"assign": "已分派", "start": "核查中", "submit": "已提交", "confirm": "已确认", "dismiss": "已排除",
           "reopen": "核查中", "return": "待核查", "comment": None}
ACTION_CN = {"assign": "分派", "start": "开始核查", "submit": "提交审核", "confirm": "确认违规", "dismiss": "排除",
             "reopen": "重新核查", "return": "退回待核查", "comment": "备注", "review": "状态变更"}


def latest_cases(cat: Catalog) -> pd.DataFrame:
    """The latest row of meta.suspect_review per suspect (its case), with every column of :data:`REVIEW_DDL`."""
    cols = [f.split()[0] for f in REVIEW_DDL.split(", ")]
    if not cat.exists("meta", "suspect_review"):
        return pd.DataFrame(columns=cols)
    r = cat.read("meta", "suspect_review").toPandas()
    for c in cols:                        # a log written before the workflow's columns existed
        if c not in r.columns:
            r[c] = None
    return r.sort_values("updated_at", kind="stable").drop_duplicates("suspect_id", keep="last")[cols]


def act(settings, suspect: str, action: str | None, actor: str, note: str = "", status: str | None = None,
        assignee: str | None = None, deadline: date | str | None = None, attach: str | Path | None = None,
        config: str | None = None, today: date | None = None) -> dict:
    """One action on a suspect's case (``action`` from :data:`ACTIONS`, or a target ``status`` directly): checked
    against :data:`TRANSITIONS`, appended to the audit log, reflected in gold.fraud_suspect.  The suspect id
    reaches the engine as data, never as SQL text."""
    from pyspark.sql import functions as F

    from yibao.engine import spark_session

    cfg = load_config(config)
    rc = cfg["review"]
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    if not str(actor or "").strip():
        raise ValueError("who acts must be given (--by / --reviewer)")
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    if not cat.exists("gold", "fraud_suspect"):
        raise ValueError("no suspect list yet: run `yibao suspects score` first")
    row = cat.read("gold", "fraud_suspect").where(F.col("suspect_id") == F.lit(str(suspect))).select(
        "suspect_id", "subject_type", "subject_id", "status").collect()
    if not row:
        raise ValueError(f"unknown suspect {suspect}")
    r = row[0]
    case = latest_cases(cat).set_index("suspect_id")
    prev = case.status.get(suspect, r.status or rc["initial"])
    target = status if status is not None else (ACTIONS[action] if action else prev)
    if action == "comment":
        target = prev
    if target not in rc["statuses"]:
        raise ValueError(f"status must be one of {rc['statuses']}, got {target!r}")
    if target != prev and target not in TRANSITIONS.get(prev, set()):
        raise ValueError(f"{prev} → {target} is not an allowed transition (allowed: {sorted(TRANSITIONS.get(prev, []))})")
    if action == "comment" and not (note or attach):
        raise ValueError("a comment needs --note or --attach")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    today = today or now.date()
    # the case's assignee and deadline carry over until changed; assigning sets both, returning clears them
    cur_assignee = case.assignee.get(suspect) if suspect in case.index else None
    cur_deadline = case.deadline.get(suspect) if suspect in case.index else None
    if target == "已分派":
        if not str(assignee or "").strip():
            raise ValueError("assigning needs an assignee (--to)")
        cur_assignee = str(assignee).strip()
        cur_deadline = (pd.Timestamp(deadline).date() if deadline
                        else today + timedelta(days=int(rc["default_deadline_days"])))
    elif target == "待核查":
        cur_assignee, cur_deadline = None, None
    elif deadline:
        cur_deadline = pd.Timestamp(deadline).date()
    stored = _store_attachment(settings, suspect, attach, cfg) if attach else None
    cur_deadline = pd.Timestamp(cur_deadline).date() if cur_deadline is not None and not pd.isna(cur_deadline) else None
    cat.ensure_columns("meta", "suspect_review", REVIEW_DDL)
    rec = spark.createDataFrame([(suspect, r.subject_type, r.subject_id, target, prev, actor, note, now,
                                  action or "review", cur_assignee, cur_deadline, stored)], REVIEW_DDL)
    cat.append(rec, "meta", "suspect_review")
    # reflect the case in the published list (one MERGE; the log stays the truth)
    view = f"_case_{uuid.uuid4().hex}"
    spark.createDataFrame([(suspect, target, cur_assignee, cur_deadline)],
                          "suspect_id string, status string, assignee string, deadline date").createOrReplaceTempView(view)
    checkpoint("write")
    spark.sql(f"MERGE INTO {cat._target('gold', 'fraud_suspect')} t USING {view} s ON t.suspect_id = s.suspect_id "
              f"WHEN MATCHED THEN UPDATE SET t.status = s.status, t.assignee = s.assignee, t.deadline = s.deadline")
    spark.catalog.dropTempView(view)
    return {"suspect_id": suspect, "action": action or "review", "prev_status": prev, "status": target,
            "reviewer": actor, "assignee": cur_assignee, "deadline": cur_deadline, "attachment": stored,
            "updated_at": now}


_SAFE = re.compile(r"[^0-9A-Za-z._\u4e00-\u9fff-]+")


def _store_attachment(settings, suspect: str, attach, cfg: dict) -> str:
    """Copy ``attach`` into the case folder; the stored name (sha256 prefix + sanitised base name)."""
    src = Path(attach)
    if not src.is_file():
        raise ValueError(f"attachment {src} is not a readable file")
    limit = int(cfg["review"]["max_attachment_mb"]) * 1024 * 1024
    if src.stat().st_size > limit:
        raise ValueError(f"attachment {src.name} is larger than {cfg['review']['max_attachment_mb']} MB")
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    name = f"{h.hexdigest()[:16]}-{_SAFE.sub('_', src.name)[-80:].lstrip('.') or 'file'}"
    folder = Path(settings.data_root).resolve() / "cases" / re.sub(r"[^0-9A-Za-z]", "", suspect)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, folder / name)
    return f"{folder.name}/{name}"


def queue(settings, assignee: str | None = None, overdue_only: bool = False, today: date | None = None,
          limit: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the open cases — 已分派 / 核查中 / 已提交 — most overdue first, with days overdue; each assignee's load:
    open cases, overdue ones, concluded ones)."""
    from yibao.engine import spark_session

    cat = Catalog(spark_session(settings), settings)
    today = today or datetime.now(timezone.utc).date()
    c = latest_cases(cat)
    c["deadline"] = pd.to_datetime(c.deadline)
    c["days_overdue"] = [(today - d.date()).days if pd.notna(d) and s in OPEN and d.date() < today else 0
                         for d, s in zip(c.deadline, c.status)]
    load = (c[c.assignee.notna()].assign(open=c.status.isin(OPEN), overdue=c.days_overdue > 0,
                                         concluded=c.status.isin(["已确认", "已排除"]))
            .groupby("assignee")[["open", "overdue", "concluded"]].sum().astype(int)
            .sort_values(["open", "overdue"], ascending=False).reset_index())
    o = c[c.status.isin(OPEN)]
    if assignee:
        o = o[o.assignee == assignee]
    if overdue_only:
        o = o[o.days_overdue > 0]
    o = o.sort_values(["days_overdue", "deadline"], ascending=[False, True])
    return (o[["suspect_id", "subject_type", "subject_id", "status", "assignee", "deadline", "days_overdue",
               "reviewer", "updated_at"]].head(limit).reset_index(drop=True), load)
