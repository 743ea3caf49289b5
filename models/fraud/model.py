"""Machine learning: a supervised model on audit labels and unsupervised anomaly models.

Supervised: settlement-level ``HistGradientBoostingClassifier`` on :data:`FEATURE_COLUMNS`, labelled by
``audit_result`` (a violation = 1, audited clean = 0) plus reviewers' decisions (已确认 = 1, 已排除 = 0).
Validation is time-based: audits are ordered by ``audit_date`` and the latest ``test_fraction`` are the test
set (reviewer labels are train-only), so the model never sees the future it is scored on.  Probabilities are
calibrated (``CalibratedClassifierCV``, sigmoid by default) with cross-validation inside the training set.
The model that scores is then refitted on every label.  Explanation: occlusion, i.e. the drop in probability
when one feature is set to its training median; the top features are listed per suspect.

Unsupervised: ``IsolationForest`` on person, institution and practitioner profiles; the anomaly score is
reported as a percentile (0–1).

Artefacts: ``<data_root>/models/fraud/<version>/model.joblib`` + ``metrics.json`` + ``test_predictions.parquet``,
and one row per version in ``meta.fraud_model_version``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.metrics import (average_precision_score, brier_score_loss, confusion_matrix, precision_score,
                             recall_score, roc_auc_score)

from yibao.fraud.features import FEATURE_COLUMNS, FEATURES


@dataclass
class ModelResult:
    version: str
    path: Path
    metrics: dict
    setl_scores: pd.DataFrame                 # setl_id, p
    anomaly: dict[str, pd.DataFrame] = field(default_factory=dict)   # kind -> key, anomaly_pct
    model: object = None
    medians: pd.Series | None = None


def models_root(settings) -> Path:
    return Path(settings.data_root).resolve() / "models" / "fraud"


def labels_from(audits: pd.DataFrame, review_labels: pd.DataFrame | None, cfg: dict) -> pd.DataFrame:
    """setl_id, y, label_date, source ('audit' | 'review')."""
    a = audits.copy()
    code = a["violation_code"].fillna("").astype(str).str.strip()
    if cfg["model"]["positive_codes"] == "rules":
        a["y"] = code.str.match(r"^R0[1-9]_").astype(int)
    else:
        a["y"] = (code != "").astype(int)
    a["label_date"] = pd.to_datetime(a["audit_date"])
    a = a.sort_values("label_date").drop_duplicates("setl_id", keep="last")
    out = a[["setl_id", "y", "label_date"]].assign(source="audit")
    if review_labels is not None and len(review_labels):
        r = review_labels[~review_labels.setl_id.isin(out.setl_id)]
        out = pd.concat([out, r[["setl_id", "y", "label_date"]].assign(source="review")], ignore_index=True)
    return out


def _classifier(cfg: dict, n_pos: int):
    base = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0,
                                          random_state=int(cfg["model"]["random_state"]))
    cv = max(2, min(3, n_pos))
    return CalibratedClassifierCV(base, method=cfg["model"]["calibration"], cv=cv)


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    m = {"n": int(len(y)), "positives": int(y.sum())}
    if 0 < y.sum() < len(y):
        m["roc_auc"] = float(roc_auc_score(y, p))
        m["pr_auc"] = float(average_precision_score(y, p))
    m["brier"] = float(brier_score_loss(y, p)) if len(y) else None
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    m["confusion@0.5"] = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
    m["precision@0.5"] = float(precision_score(y, pred, zero_division=0))
    m["recall@0.5"] = float(recall_score(y, pred, zero_division=0))
    return m


def train(sf: pd.DataFrame, labels: pd.DataFrame, cfg: dict, settings) -> ModelResult:
    mc = cfg["model"]
    data = sf.merge(labels, on="setl_id", how="inner")
    audit = data[data.source == "audit"].sort_values("label_date")
    cut_idx = int(len(audit) * (1 - float(mc["test_fraction"])))
    cutoff = audit.label_date.iloc[cut_idx] if len(audit) else pd.Timestamp.max
    test = audit[audit.label_date >= cutoff]
    trn = pd.concat([audit[audit.label_date < cutoff], data[data.source == "review"]])
    X, Xt = trn[FEATURE_COLUMNS].to_numpy(), test[FEATURE_COLUMNS].to_numpy()
    metrics: dict = {"cutoff_audit_date": str(cutoff.date()) if len(audit) else None,
                     "features": FEATURE_COLUMNS, "n_labels": int(len(data)),
                     "n_review_labels": int((data.source == "review").sum())}
    test_pred = pd.DataFrame()
    if trn.y.nunique() == 2 and trn.y.sum() >= 2:
        clf = _classifier(cfg, int(trn.y.sum())).fit(X, trn.y.to_numpy())
        pt = clf.predict_proba(Xt)[:, 1] if len(Xt) else np.array([])
        metrics["train"] = _metrics(trn.y.to_numpy(), clf.predict_proba(X)[:, 1])
        metrics["test"] = _metrics(test.y.to_numpy(), pt)
        raw = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0,
                                             random_state=int(mc["random_state"])).fit(X, trn.y.to_numpy())
        test_pred = pd.DataFrame({"setl_id": test.setl_id.to_numpy(), "y": test.y.to_numpy(), "p": pt,
                                  "p_uncalibrated": raw.predict_proba(Xt)[:, 1] if len(Xt) else [],
                                  "audit_date": test.label_date.to_numpy()})
    else:
        metrics["test"] = {"note": "not enough labelled positives before the cutoff"}
    # the scoring model: refitted on every label
    allX, ally = data[FEATURE_COLUMNS].to_numpy(), data.y.to_numpy()
    model = _classifier(cfg, int(ally.sum())).fit(allX, ally) if ally.sum() >= 2 and (ally == 0).sum() >= 2 else None
    medians = pd.Series(np.median(allX, axis=0) if len(allX) else 0.0, index=FEATURE_COLUMNS)
    p_all = model.predict_proba(sf[FEATURE_COLUMNS].to_numpy())[:, 1] if model is not None else np.zeros(len(sf))
    setl_scores = pd.DataFrame({"setl_id": sf.setl_id, "person_id": sf.person_id, "p": p_all})
    # global explanation: mean occlusion effect on the test set
    if model is not None and len(test):
        eff = occlusion(model, medians, test[FEATURE_COLUMNS])
        metrics["feature_effect_test"] = {k: float(v) for k, v in eff.abs().mean().sort_values(ascending=False).items()}
    # unsupervised anomaly models
    from yibao.fraud.features import profiles

    anomaly, iso_models = {}, {}
    for kind, prof in profiles(sf).items():
        key = prof.columns[0]
        cols = [c for c in prof.columns if c != key]
        if len(prof) < 10:
            anomaly[kind] = prof[[key]].assign(anomaly_pct=0.0)
            continue
        iso = IsolationForest(n_estimators=200, contamination=float(mc["isolation_contamination"]),
                              random_state=int(mc["random_state"])).fit(prof[cols].fillna(0).to_numpy())
        s = -iso.score_samples(prof[cols].fillna(0).to_numpy())
        anomaly[kind] = prof[[key]].assign(anomaly_pct=pd.Series(s).rank(pct=True).to_numpy(), anomaly_raw=s)
        iso_models[kind] = (iso, cols)
    # version and artefacts
    fp = hashlib.sha256(pd.util.hash_pandas_object(data[["setl_id", "y"]], index=False).values.tobytes()).hexdigest()[:8]
    version = f"{mc['version_prefix']}{datetime.now(timezone.utc).strftime('%Y%m%d%H%M%S')}-{fp}"
    path = models_root(settings) / version
    path.mkdir(parents=True, exist_ok=True)
    metrics.update(version=version, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   n_settlements_scored=int(len(sf)),
                   anomaly_contamination=float(mc["isolation_contamination"]))
    joblib.dump({"version": version, "classifier": model, "features": FEATURE_COLUMNS, "medians": medians,
                 "isolation_forests": iso_models, "config_model": dict(mc)}, path / "model.joblib")
    (path / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2, default=str))
    if len(test_pred):
        test_pred.to_parquet(path / "test_predictions.parquet", index=False)
    return ModelResult(version, path, metrics, setl_scores, anomaly, model, medians)


def occlusion(model, medians: pd.Series, X: pd.DataFrame) -> pd.DataFrame:
    """Per row and feature: p(row) - p(row with the feature set to the training median)."""
    base = model.predict_proba(X.to_numpy())[:, 1]
    out = {}
    for c in X.columns:
        Z = X.copy()
        Z[c] = medians[c]
        out[c] = base - model.predict_proba(Z.to_numpy())[:, 1]
    return pd.DataFrame(out, index=X.index)


def explain(result: ModelResult, sf: pd.DataFrame, setl_ids: list[str], top: int) -> dict[str, str]:
    """setl_id -> '特征 值 (+Δ概率)' for the top contributing features."""
    if result.model is None or not setl_ids:
        return {}
    X = sf.set_index("setl_id").loc[setl_ids, FEATURE_COLUMNS]
    eff = occlusion(result.model, result.medians, X)
    out = {}
    for sid, row in eff.iterrows():
        best = row[row > 0.005].sort_values(ascending=False).head(top)
        out[sid] = "；".join(f"{FEATURES[c]}={X.at[sid, c]:.4g}（+{v:.2f}）" for c, v in best.items())
    return out
