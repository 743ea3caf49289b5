"""Calibrated risk: the probability that a suspect is confirmed, and risk levels a supervisor can work through.

The composite ``score`` (suspects.py) ranks well but is not a probability, and fixed score thresholds put nearly
every suspect in 高.  Here:

1. **Outcomes per subject** (:func:`subject_outcomes`): a reviewer's decision (已确认 = 1, 已排除 = 0) wins;
   otherwise the audits (``audit_result``) of the subject's settlements: a person is confirmed when one of its
   audited settlements is a violation (``model.positive_codes``), an institution when an audit concluded an
   institution-level violation (``calibration.institution_codes``, R09) on one of its settlements, a group when
   an audit of a member concluded a gang violation (``calibration.group_codes``, R08).  Subjects never audited
   nor reviewed have no outcome.
2. **Calibration** (:func:`fit`): isotonic regression of the outcome on score / 100, one per subject type when
   that type has ``min_labels`` labelled suspects of both outcomes, else one over every type; monotone by
   construction, so the probability never reorders the ranked list.
3. **Held-out check** (:func:`holdout_report`): the same fit on the subjects whose outcome is older than the
   latest ``model.test_fraction``, applied to the newer ones: reliability bins (predicted vs observed) and
   Brier score, in ``metrics.json`` under ``calibration``.
4. **Levels** (:func:`levels`): 高 = probability ≥ ``high_probability`` and within the first ``high_max_share``
   of the scored subjects (every person and institution the models scored), 中 likewise with
   ``medium_probability`` / ``medium_max_share`` (cumulative), else 低.  The shares are a supervisor team's
   capacity; the probabilities keep a level from being filled with subjects that are unlikely to be confirmed.
   Without any outcome to calibrate on, the probability is null and the score thresholds of ``[score]`` stand
   in for the probabilities (same caps).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from yibao.fraud.model import audit_codes, is_violation

LEVEL_NAMES = ("高", "中", "低")


def subject_outcomes(pop: pd.DataFrame, hits: pd.DataFrame, audited: pd.DataFrame, reviews: pd.DataFrame,
                     cfg: dict) -> pd.DataFrame:
    """suspect_id, y (0/1), label_date, source ('review' | 'audit') for the subjects of ``pop`` (suspect_id,
    subject_type, subject_id) with an outcome.

    ``audited``: setl_id, person_id, fixmedins_code, violation_code, audit_date (the audits of the labelled
    settlements); ``reviews``: meta.suspect_review's latest decision per suspect; ``hits``: the rule hits (a
    group's members are the persons of its R08 hits)."""
    cc = cfg["calibration"]
    out = []
    if len(audited):
        a = audited.assign(pos=is_violation(audited.violation_code, cfg).astype(int),
                           code=audit_codes(audited.violation_code),
                           label_date=pd.to_datetime(audited.audit_date, errors="coerce"))
        per = a.groupby("person_id").agg(y=("pos", "max"), label_date=("label_date", "max"))
        out.append(pd.DataFrame({"subject_type": "person", "subject_id": per.index, "y": per.y.to_numpy(),
                                 "label_date": per.label_date.to_numpy()}))
        a["inst_pos"] = a.code.isin(cc["institution_codes"]).astype(int)
        ins = a.groupby("fixmedins_code").agg(y=("inst_pos", "max"), label_date=("label_date", "max"))
        out.append(pd.DataFrame({"subject_type": "institution", "subject_id": ins.index, "y": ins.y.to_numpy(),
                                 "label_date": ins.label_date.to_numpy()}))
        if len(hits):
            members = hits[(hits.subject_type == "person") & hits.group_id.notna()][["group_id", "person_id"]]
            a["gang_pos"] = a.code.isin(cc["group_codes"]).astype(int)
            g = members.drop_duplicates().merge(a[["person_id", "gang_pos", "label_date"]], on="person_id")
            g = g.groupby("group_id").agg(y=("gang_pos", "max"), label_date=("label_date", "max"))
            out.append(pd.DataFrame({"subject_type": "group", "subject_id": g.index, "y": g.y.to_numpy(),
                                     "label_date": g.label_date.to_numpy()}))
    audit = (pd.concat(out, ignore_index=True) if out else
             pd.DataFrame(columns=["subject_type", "subject_id", "y", "label_date"]))
    audit = pop[["suspect_id", "subject_type", "subject_id"]].merge(audit, on=["subject_type", "subject_id"])
    audit = audit[["suspect_id", "y", "label_date"]].assign(source="audit")
    rc = cfg["review"]
    r = reviews[reviews.status.isin([rc["positive_status"], rc["negative_status"]])] if len(reviews) else reviews.iloc[0:0]
    r = pd.DataFrame({"suspect_id": r.suspect_id.astype(str), "y": (r.status == rc["positive_status"]).astype(int),
                      "label_date": pd.to_datetime(r.updated_at), "source": "review"})
    r = r[r.suspect_id.isin(pop.suspect_id)]
    both = pd.concat([r, audit[~audit.suspect_id.isin(r.suspect_id)]], ignore_index=True)
    both["y"] = both.y.astype(int)
    return both.dropna(subset=["label_date"]).reset_index(drop=True)


class Calibrator:
    """score (0–100) -> probability of confirmation; one isotonic fit per subject type with enough outcomes,
    one pooled fit for the rest.  ``fits`` records which."""

    def __init__(self, labelled: pd.DataFrame, min_labels: int):
        self.models: dict[str, IsotonicRegression] = {}
        self.fits: dict[str, int] = {}

        def ok(d):
            return len(d) >= min_labels and d.y.nunique() == 2

        for t, d in labelled.groupby("subject_type"):
            if ok(d):
                self.models[t] = _isotonic(d)
                self.fits[t] = int(len(d))
        if ok(labelled):
            self.models["*"] = _isotonic(labelled)
            self.fits["*"] = int(len(labelled))

    @property
    def ready(self) -> bool:
        return "*" in self.models

    def predict(self, subject_type: pd.Series, score: pd.Series) -> np.ndarray:
        p = np.full(len(score), np.nan)
        x = score.to_numpy(dtype=float) / 100.0
        t = subject_type.to_numpy()
        for kind in np.unique(t):
            m = self.models.get(kind) or self.models.get("*")
            if m is not None:
                idx = t == kind
                p[idx] = m.predict(x[idx])
        return p


def _isotonic(d: pd.DataFrame) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
        d.score.to_numpy(dtype=float) / 100.0, d.y.to_numpy(dtype=float))


def fit(s: pd.DataFrame, outcomes: pd.DataFrame, cfg: dict) -> Calibrator:
    lab = s[["suspect_id", "subject_type", "score"]].merge(outcomes, on="suspect_id")
    return Calibrator(lab, int(cfg["calibration"]["min_labels"]))


def holdout_report(s: pd.DataFrame, outcomes: pd.DataFrame, cfg: dict) -> dict:
    """Fit on the older outcomes, predict the newer (``model.test_fraction`` by label date): reliability bins,
    Brier score, and the observed confirmation rate per level of the held-out suspects."""
    lab = s[["suspect_id", "subject_type", "score"]].merge(outcomes, on="suspect_id").sort_values(
        ["label_date", "suspect_id"], kind="stable")
    rep: dict = {"labelled_suspects": int(len(lab)), "positives": int(lab.y.sum()) if len(lab) else 0}
    if len(lab) < 2 * int(cfg["calibration"]["min_labels"]):
        rep["holdout"] = {"note": "too few suspects with an outcome for a held-out check"}
        return rep
    cut = int(len(lab) * (1 - float(cfg["model"]["test_fraction"])))
    train, test = lab.iloc[:cut], lab.iloc[cut:]
    cal = Calibrator(train, int(cfg["calibration"]["min_labels"]))
    if not cal.ready or not len(test):
        rep["holdout"] = {"note": "no outcome of both kinds before the cut"}
        return rep
    p = cal.predict(test.subject_type, test.score)
    y = test.y.to_numpy(dtype=float)
    bins = reliability(p, y, int(cfg["calibration"]["reliability_bins"]))
    rep["holdout"] = {"train": int(len(train)), "test": int(len(test)), "test_positives": int(y.sum()),
                      "cutoff_label_date": str(pd.Timestamp(test.label_date.iloc[0]).date()),
                      "brier": float(np.mean((p - y) ** 2)), "reliability": bins,
                      "fits": cal.fits}
    return rep


def reliability(p: np.ndarray, y: np.ndarray, n_bins: int) -> list[dict]:
    """Equal-count bins of the predicted probability (ties kept together): n, mean predicted, observed rate."""
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    edges = np.unique(np.quantile(ps, np.linspace(0, 1, n_bins + 1)))
    out = []
    lo = 0
    for hi_v in edges[1:]:
        hi = int(np.searchsorted(ps, hi_v, "right"))
        if hi > lo:
            out.append({"n": hi - lo, "p_mean": float(ps[lo:hi].mean()), "observed": float(ys[lo:hi].mean()),
                        "p_min": float(ps[lo]), "p_max": float(ps[hi - 1])})
            lo = hi
    return out


def levels(s: pd.DataFrame, n_scored: int, cfg: dict) -> list[str]:
    """高/中/低 per suspect row of ``s`` (columns probability, score, suspect_id): see the module docstring."""
    lc, sc = cfg["calibration"], cfg["score"]
    calibrated = s.probability.notna().any()
    # the probability, or without calibration the score on the same 0-1 scale with [score]'s thresholds
    p = s.probability.fillna(0.0) if calibrated else s.score / 100.0
    hi_p = float(lc["high_probability"]) if calibrated else float(sc["high"]) / 100.0
    mid_p = float(lc["medium_probability"]) if calibrated else float(sc["medium"]) / 100.0
    base = max(int(n_scored), len(s))
    hi_cap = math.floor(float(lc["high_max_share"]) * base)
    mid_cap = math.floor(float(lc["medium_max_share"]) * base)
    order = pd.DataFrame({"p": p.to_numpy(), "score": s.score.to_numpy(), "id": s.suspect_id.to_numpy()}).sort_values(
        ["p", "score", "id"], ascending=[False, False, True], kind="stable")
    out = np.array(["低"] * len(s), dtype=object)
    for pos, (i, pv) in enumerate(zip(order.index, order.p)):
        if pv >= hi_p and pos < hi_cap:
            out[i] = "高"
        elif pv >= mid_p and pos < mid_cap:
            out[i] = "中"
    return list(out)


def calibrate(s: pd.DataFrame, others: pd.DataFrame, hits: pd.DataFrame, audited: pd.DataFrame,
              reviews: pd.DataFrame, n_scored: int, cfg: dict) -> tuple[pd.DataFrame, dict]:
    """``s`` with ``probability`` and ``risk_level`` set, and the calibration report (fits, held-out check,
    level mix).  The calibration population is the suspects plus ``others`` (suspect_id, subject_type,
    subject_id, score of audited subjects that are not suspects)."""
    s = s.reset_index(drop=True)
    cols = ["suspect_id", "subject_type", "subject_id", "score"]
    pop = pd.concat([s[cols], others[cols]], ignore_index=True) if len(others) else s[cols]
    outcomes = subject_outcomes(pop, hits, audited, reviews, cfg)
    cal = fit(pop, outcomes, cfg)
    s["probability"] = cal.predict(s.subject_type, s.score) if cal.ready else np.nan
    s["risk_level"] = levels(s, n_scored, cfg)
    rep = holdout_report(pop, outcomes, cfg)
    rep["population"] = {"suspects": int(len(s)), "audited_not_listed": int(len(others)),
                         "with_outcome": int(len(outcomes))}
    mix = s.risk_level.value_counts()
    rep.update(calibrated=bool(cal.ready), fits=cal.fits, scored_subjects=int(n_scored),
               level_mix={k: int(mix.get(k, 0)) for k in LEVEL_NAMES},
               level_share_of_scored={k: float(mix.get(k, 0)) / max(int(n_scored), 1) for k in LEVEL_NAMES},
               settings={k: cfg["calibration"][k] for k in ("high_probability", "medium_probability",
                                                           "high_max_share", "medium_max_share")})
    return s, rep
