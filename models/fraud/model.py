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

Fitting happens on the client on bounded data (the labelled settlements, capped by ``max_labels``; samples of
at most ``max_profile_rows`` profile rows); scoring happens on the engine (:func:`score_settlements`,
:func:`score_profiles`: ``mapInPandas`` with the fitted models in the closure).
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
    model: object = None                      # calibrated classifier (None without enough labels)
    medians: pd.Series | None = None          # training medians (occlusion)
    iso_models: dict = field(default_factory=dict)   # kind -> (IsolationForest, profile columns)
    anomaly_ref: dict = field(default_factory=dict)  # kind -> sorted anomaly scores of the fitting sample
    # filled by the pipeline after scoring on the engine, for the suspects only (bounded):
    setl_scores: pd.DataFrame | None = None   # setl_id, person_id, p
    anomaly: dict[str, pd.DataFrame] = field(default_factory=dict)   # kind -> key, anomaly_pct
    audited_scores: pd.DataFrame | None = None   # person_id, p, anomaly_pct of the audited persons (calibration)


def models_root(settings) -> Path:
    return Path(settings.data_root).resolve() / "models" / "fraud"


def audit_codes(codes: pd.Series) -> pd.Series:
    """audit_result.violation_code as compared everywhere: trimmed, '' when audited clean."""
    return codes.fillna("").astype(str).str.strip()


def is_violation(codes: pd.Series, cfg: dict) -> pd.Series:
    """Which audit conclusions are violations (``model.positive_codes``: 'any' code, or only the rules'): the one
    definition of a positive label, for training, calibration and the rule record."""
    code = audit_codes(codes)
    if cfg["model"]["positive_codes"] == "rules":
        return code.str.match(r"^R0[1-9]_")
    return code != ""


def labels_from(audits: pd.DataFrame, review_labels: pd.DataFrame | None, cfg: dict) -> pd.DataFrame:
    """setl_id, y, label_date, source ('audit' | 'review')."""
    a = audits.copy()
    a["y"] = is_violation(a["violation_code"], cfg).astype(int)
    a["label_date"] = pd.to_datetime(a["audit_date"])
    a = a.sort_values("label_date").drop_duplicates("setl_id", keep="last")
    out = a[["setl_id", "y", "label_date"]].assign(source="audit")
    if review_labels is not None and len(review_labels):
        r = review_labels[~review_labels.setl_id.isin(out.setl_id)]
        out = pd.concat([out, r[["setl_id", "y", "label_date"]].assign(source="review")], ignore_index=True)
    return out


def classifier(cfg: dict, n_pos: int):
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


def sample_key(keys: pd.Series) -> np.ndarray:
    """A fixed pseudo-random order of keys (pandas' seeded hash): deterministic samples of labels."""
    return pd.util.hash_pandas_object(keys.astype(str), index=False).to_numpy()


def cap_labels(labels: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """At most ``model.max_labels`` labels: the ones with the smallest :func:`sample_key` of setl_id (a uniform,
    deterministic sample across audit dates and sources).  Labels are a small fraction of settlements; the
    cap only keeps the client's memory bounded if that ever stops being true."""
    cap = int(cfg["model"].get("max_labels", 0) or 0)
    if cap <= 0 or len(labels) <= cap:
        return labels
    keep = np.argsort(sample_key(labels.setl_id), kind="stable")[:cap]
    return labels.iloc[np.sort(keep)].reset_index(drop=True)


def train(labelled: pd.DataFrame, labels: pd.DataFrame, profile_samples: dict[str, tuple[str, list[str], pd.DataFrame]],
          cfg: dict, settings, n_settlements: int) -> ModelResult:
    """Fit the models on the client, on bounded data.

    ``labelled``: the settlement features (KEY_COLUMNS + FEATURE_COLUMNS) of the labelled settlements, sorted by
    setl_id; ``labels``: :func:`labels_from` (capped by :func:`cap_labels`); ``profile_samples``: kind -> (key,
    columns, the profile rows of a deterministic sample of at most ``model.max_profile_rows`` keys, sorted by
    key).  Scoring every settlement and profile happens on the engine (:func:`score_settlements`,
    :func:`score_profiles`) with the models returned here."""
    mc = cfg["model"]
    data = labelled.merge(labels, on="setl_id", how="inner")
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
        clf = classifier(cfg, int(trn.y.sum())).fit(X, trn.y.to_numpy())
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
    model = classifier(cfg, int(ally.sum())).fit(allX, ally) if ally.sum() >= 2 and (ally == 0).sum() >= 2 else None
    medians = pd.Series(np.median(allX, axis=0) if len(allX) else 0.0, index=FEATURE_COLUMNS)
    # global explanation: mean occlusion effect on the test set
    if model is not None and len(test):
        eff = occlusion(model, medians, test[FEATURE_COLUMNS])
        metrics["feature_effect_test"] = {k: float(v) for k, v in eff.abs().mean().sort_values(ascending=False).items()}
    # unsupervised anomaly models, fitted on the (sampled) profiles; the sample's own scores are the reference
    # distribution that turns any profile's score into a percentile (exactly pandas' rank(pct=True) when the
    # sample is the whole population)
    iso_models, anomaly_ref = {}, {}
    for kind, (key, cols, prof) in profile_samples.items():
        if len(prof) < 10:
            continue
        Xp = prof[cols].fillna(0).to_numpy()
        iso = IsolationForest(n_estimators=200, contamination=float(mc["isolation_contamination"]),
                              random_state=int(mc["random_state"])).fit(Xp)
        iso_models[kind] = (iso, cols)
        anomaly_ref[kind] = np.sort(-iso.score_samples(Xp))
    # version and artefacts
    fp = hashlib.sha256(pd.util.hash_pandas_object(data[["setl_id", "y"]], index=False).values.tobytes()).hexdigest()[:8]
    version = f"{mc['version_prefix']}{datetime.now(timezone.utc).strftime('%Y%m%d%H%M%S')}-{fp}"
    path = models_root(settings) / version
    path.mkdir(parents=True, exist_ok=True)
    metrics.update(version=version, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   n_settlements_scored=int(n_settlements),
                   anomaly_contamination=float(mc["isolation_contamination"]),
                   anomaly_fit_rows={k: int(len(v)) for k, v in anomaly_ref.items()})
    joblib.dump({"version": version, "classifier": model, "features": FEATURE_COLUMNS, "medians": medians,
                 "isolation_forests": iso_models, "anomaly_reference": anomaly_ref, "config_model": dict(mc)},
                path / "model.joblib")
    (path / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2, default=str))
    if len(test_pred):
        test_pred.to_parquet(path / "test_predictions.parquet", index=False)
    return ModelResult(version, path, metrics, model, medians, iso_models, anomaly_ref)


# ------------------------------------------------------------------------------- scoring on the engine
# The functions below return closures that the engine runs on each partition (mapInPandas); the fitted models
# travel pickled by value inside them.  One OpenMP/BLAS thread per engine task: the engine already runs one
# task per core, and OpenMP limits are per thread, so the limit is set inside the task.

def _settlement_scorer(model):
    def score(batches):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            for b in batches:
                p = (model.predict_proba(b[FEATURE_COLUMNS].to_numpy(dtype=float))[:, 1] if model is not None and len(b)
                     else np.zeros(len(b)))
                yield pd.DataFrame({"setl_id": b.setl_id, "person_id": b.person_id, "p": p})
    return score


def score_settlements(features, result: ModelResult):
    """Engine DataFrame setl_id, person_id, p (calibrated probability) for every settlement feature row."""
    return features.select("setl_id", "person_id", *FEATURE_COLUMNS).mapInPandas(
        _settlement_scorer(result.model), "setl_id string, person_id string, p double")


def _profile_scorer(kind: str, key: str, iso, cols: list[str], ref: np.ndarray | None):
    n = len(ref) if ref is not None else 0

    def score(batches):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            for b in batches:
                if iso is None or not len(b):
                    raw, pct = np.full(len(b), np.nan), np.zeros(len(b))
                else:
                    raw = -iso.score_samples(b[cols].fillna(0).to_numpy(dtype=float))
                    lo, hi = np.searchsorted(ref, raw, "left"), np.searchsorted(ref, raw, "right")
                    pct = np.minimum((lo + hi + 1) / 2.0 / n, 1.0)
                yield pd.DataFrame({"kind": kind, "subject_id": b[key].astype(str), "anomaly_raw": raw,
                                    "anomaly_pct": pct})
    return score


PROFILE_SCORE_DDL = "kind string, subject_id string, anomaly_raw double, anomaly_pct double"


def score_profiles(kind: str, key: str, cols: list[str], prof, result: ModelResult):
    """Engine DataFrame kind, subject_id, anomaly_raw, anomaly_pct for every profile row of ``kind``.  The
    percentile is the score's mid-rank among the fitting sample's scores (0 when too few rows to fit)."""
    iso = result.iso_models.get(kind, (None, cols))[0]
    return prof.select(key, *cols).mapInPandas(
        _profile_scorer(kind, key, iso, cols, result.anomaly_ref.get(kind)), PROFILE_SCORE_DDL)


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
