"""Calibrated risk levels and the evaluation metrics, on hand-built suspects (no engine).

The end-to-end checks on a generated province (levels within bounds, held-out calibration monotone, the
evaluation report) are in tests/test_fraud.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from yibao.fraud import calibration
from yibao.fraud.config import load_config
from yibao.fraud.evaluate import ranking_metrics, rule_scores


def _cfg(**calib):
    cfg = load_config()
    cfg["calibration"] = {**cfg["calibration"], **calib}
    return cfg


def _suspects(n: int, probability=None, score=None) -> pd.DataFrame:
    score = np.linspace(90, 10, n) if score is None else np.asarray(score, dtype=float)
    return pd.DataFrame({"suspect_id": [f"S{i:03d}" for i in range(n)], "subject_type": "person",
                         "subject_id": [f"P{i:03d}" for i in range(n)], "score": score,
                         "probability": np.nan if probability is None else probability})


def test_levels_respect_capacity_and_probability():
    cfg = _cfg(high_probability=0.5, high_max_share=0.02, medium_probability=0.2, medium_max_share=0.08)
    p = np.array([0.95, 0.9, 0.9, 0.8, 0.6, 0.45, 0.3, 0.25, 0.21, 0.19, 0.05, 0.01])
    s = _suspects(len(p), probability=p)
    lv = calibration.levels(s, n_scored=100, cfg=cfg)
    # 2% of 100 scored subjects: two 高 although five reach 0.5; 中 up to 8 in all, only with p >= 0.2
    assert lv == ["高", "高", "中", "中", "中", "中", "中", "中", "低", "低", "低", "低"]
    # more capacity: every p >= 0.5 is 高, every 0.2 <= p < 0.5 is 中
    lv = calibration.levels(s, n_scored=1000, cfg=cfg)
    assert lv == ["高"] * 5 + ["中"] * 4 + ["低"] * 3


def test_levels_without_calibration_use_the_score_thresholds_with_the_same_caps():
    cfg = _cfg(high_max_share=0.5, medium_max_share=1.0)
    s = _suspects(4, score=[80, 61, 40, 20])
    assert calibration.levels(s, n_scored=4, cfg=cfg) == ["高", "高", "中", "低"]
    # the base is never smaller than the list: 25% of max(2 scored, 4 rows) is one 高
    assert calibration.levels(s, n_scored=2, cfg=_cfg(high_max_share=0.25, medium_max_share=1.0)) == [
        "高", "中", "中", "低"]


def test_outcomes_reviews_win_and_institutions_need_an_institution_level_code():
    cfg = load_config()
    s = pd.DataFrame({"suspect_id": ["SA", "SB", "SI", "SJ"], "subject_type": ["person", "person", "institution",
                                                                             "institution"],
                      "subject_id": ["PA", "PB", "H1", "H2"], "score": [70.0, 50.0, 40.0, 30.0]})
    audited = pd.DataFrame({"setl_id": ["1", "2", "3", "4"], "person_id": ["PA", "PB", "PB", "PC"],
                            "fixmedins_code": ["H1", "H1", "H2", "H2"],
                            "violation_code": ["R02_SPLIT_ADMISSION", None, "R09_PROVIDER_OUTLIER", None],
                            "audit_date": ["2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01"]})
    reviews = pd.DataFrame({"suspect_id": ["SA"], "status": ["已排除"], "updated_at": [pd.Timestamp("2025-07-01")]})
    o = calibration.subject_outcomes(s, pd.DataFrame(columns=["subject_type", "group_id", "person_id"]), audited,
                                     reviews, cfg).set_index("suspect_id")
    assert o.loc["SA", "y"] == 0 and o.loc["SA", "source"] == "review"      # the reviewer overrules the audit
    assert o.loc["SB", "y"] == 1                                             # one violating audit of two
    assert o.loc["SI", "y"] == 0                                             # R02 on its settlement: not the institution's
    assert o.loc["SJ", "y"] == 1 and o.loc["SJ", "label_date"] == pd.Timestamp("2025-06-01")


def test_calibration_is_monotone_in_the_score():
    rng = np.random.default_rng(3)
    score = rng.uniform(0, 100, 400)
    y = (rng.uniform(0, 1, 400) < score / 100).astype(int)
    s = _suspects(400, score=score)
    outcomes = pd.DataFrame({"suspect_id": s.suspect_id, "y": y, "label_date": pd.Timestamp("2025-01-01"),
                             "source": "audit"})
    cal = calibration.fit(s, outcomes, load_config())
    p = cal.predict(s.subject_type, s.score)
    order = np.argsort(score)
    assert np.all(np.diff(p[order]) >= -1e-12) and 0 <= p.min() and p.max() <= 1
    assert p[order][:40].mean() < 0.25 < 0.75 < p[order][-40:].mean()


def test_reliability_bins_cover_every_row():
    p = np.array([0.1, 0.1, 0.2, 0.5, 0.9, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1])
    bins = calibration.reliability(p, y, 3)
    assert sum(b["n"] for b in bins) == 6
    assert bins[-1]["observed"] == 1.0 and bins[0]["observed"] == 0.0


def test_ranking_metrics_by_hand():
    m = ranking_metrics(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]), [2, 5])
    assert m["roc_auc"] == pytest.approx(0.75) and m["positive_rate"] == 0.5
    assert m["precision@2"] == 0.5 and m["lift@2"] == 1.0 and "precision@5" not in m


def test_rule_scores_are_the_noisy_or_of_the_distinct_rules_naming_a_settlement():
    cfg = load_config()
    w1, w2 = (float(cfg["rules"][c]["weight"]) for c in ("R01_AFTER_DEATH", "R06_DUP_CHARGE"))
    hits = pd.DataFrame({"rule_code": ["R01_AFTER_DEATH", "R06_DUP_CHARGE", "R06_DUP_CHARGE", "R09_PROVIDER_OUTLIER"],
                         "subject_type": ["person", "person", "person", "institution"],
                         "subject_id": ["P1", "P1", "P1", "H1"], "setl_ids": [["a", "b"], ["b"], ["b"], ["c"]]})
    got = rule_scores(hits, pd.Series(["a", "b", "c"]), cfg)
    assert got == pytest.approx([w1, 1 - (1 - w1) * (1 - w2), 0.0])


def test_hit_outcomes_reviews_then_settlement_audits_then_institution_audits():
    from yibao.fraud.library import hit_outcomes

    cfg = load_config()
    hits = pd.DataFrame({"suspect_id": ["SA", "SB", "SC", "SD", "SE"],
                         "subject_type": ["person", "person", "institution", "institution", "person"],
                         "subject_id": ["P1", "P2", "H1", "H2", "P3"],
                         "setl_ids": [["1"], ["2"], [], None, ["9"]]})
    audited = pd.DataFrame({"setl_id": ["1", "2", "3", "4"], "fixmedins_code": ["H1", "H1", "H1", "H2"],
                            "violation_code": ["R02_SPLIT_ADMISSION", None, "R09_PROVIDER_OUTLIER", "OTHER"]})
    reviews = pd.DataFrame({"suspect_id": ["SB"], "status": ["已确认"]})
    got = hit_outcomes(hits, audited, reviews, cfg).tolist()
    # SA audited violating; SB audited clean but a reviewer confirmed it; H1 has an R09 conclusion, H2 only
    # OTHER (not an institution-level finding); P3's settlement was never audited
    assert got[:4] == [1.0, 1.0, 1.0, 0.0] and np.isnan(got[4])
