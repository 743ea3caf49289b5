"""One masking rule (yibao.masking) and every place that shows personal data gives the same output for it.

The callers: the quality results and Data Docs (``yibao.quality.mask``), the supervisors' suspect export
(``yibao.fraud.suspects.export``, which masks its columns with ``yibao.masking.mask_values``) and the
dashboards' serving views (``yibao.dashboards.readpath``: SQL that Superset runs read-only through its own DuckDB
connection, checked here on a real read-path file the way Superset opens it).
"""

from __future__ import annotations

import json

import pytest

from yibao import masking

ID18, ID18X, ID15 = "610102198501011234", "61010219850101123X", "610102850101123"

# (input, masked) per kind of value: null, empty, blank, names of 1-4 characters, 15- and 18-digit ID numbers,
# short and garbage ID numbers, phone numbers as delivered.
NAMES = [(None, None), ("", ""), ("  ", "  "), ("张", "*"), ("张三", "张*"), ("李小龙", "李**"),
         ("欧阳娜娜", "欧***"), (" 张三 ", "张*"), ("张\u3000三", "张**")]
CERTNOS = [(None, None), ("", ""), (ID18, "610102********1234"), (ID18X, "610102********123X"),
           ("61010219850101123x", "610102********123x"), (ID15, "610102*****1123"),
           ("610102 19850101 1234", "610102********1234"), ("６１０１０２１９８５０１０１１２３４", "６１０１０２********１２３４"),
           ("6101021985010", "*************"), ("12345", "*****"), ("abc", "***"), ("X", "*")]
TELS = [(None, None), ("", ""), ("13812345678", "138****5678"), ("138-1234-5678", "138****5678"),
        ("138 1234 5678", "138****5678"), ("029-88886666", "029****6666"), ("88886666", "********"), ("12", "**")]
TEXTS = [(None, None), ("", ""),
         (f"P3,张三,{ID18},13800000000,2026-11-01", "P3,张三,610102********1234,138****0000,2026-11-01"),
         (f"P4,李四,{ID15},138-1234-5678,", "P4,李四,610102*****1123,138****5678,"),
         (f"P5,王五,610102 19850101 1234,,{ID18X}", "P5,王五,610102********1234,,610102********123X"),
         ("batch 20261108-001 line 12: 1731234567890", "batch 20261108-001 line 12: 1731234567890"),
         (f"release: ID {ID18} belongs to P9", "release: ID 610102********1234 belongs to P9")]
JSON_ROW = {"psn_no": "P1", "psn_name": "欧阳娜娜", "certno": ID18, "tel": "13912345678",
            "hsreg_addr": "陕西省西安市新城区某路1号", "hsreg_book_no": "B0001", "gend": "1", "brdy": None,
            "remark": f"mother {ID18X}", "_line_number": 7}
JSON_MASKED = {"psn_no": "P1", "psn_name": "欧***", "certno": "610102********1234", "tel": "139****5678",
               "hsreg_addr": "陕西省西安市***", "hsreg_book_no": "****", "gend": "1", "brdy": None,
               "remark": "mother 610102********123X", "_line_number": 7}


def _inputs(cases):
    return [c[0] for c in cases]


def _expected(cases):
    return [c[1] for c in cases]


@pytest.mark.parametrize("column, cases", [("psn_name", NAMES), ("child_name", NAMES), ("certno", CERTNOS),
                                           ("mother_certno", CERTNOS), ("_q_certno_norm", CERTNOS), ("tel", TELS),
                                           (None, TEXTS)])
def test_the_rule(column, cases):
    assert masking.mask_values(column, _inputs(cases)) == _expected(cases)


def test_other_values():
    assert masking.mask_values("hsreg_addr", ["陕西省西安市新城区", "西安市", "", None]) == \
        ["陕西省西安市***", "西安市", "", None]
    assert masking.mask_values("hsreg_book_no", ["B0001", "", None]) == ["****", "", None]
    # not strings: as they are; status columns of an ID number are not ID numbers
    assert masking.mask_values("certno", [7, 1.5, True]) == [7, 1.5, True]
    assert masking.mask_value("certno_status", "BAD_FORMAT") == "BAD_FORMAT"
    assert masking.mask_value(None, "no numbers here") == "no numbers here"


def test_quality_masks_like_the_rule():
    from yibao.quality.mask import mask_result, mask_text, mask_value

    for column, cases in (("psn_name", NAMES), ("certno", CERTNOS), ("tel", TELS)):
        assert [mask_value(column, v) for v in _inputs(cases)] == _expected(cases)
        result = {"partial_unexpected_list": _inputs(cases),
                  "partial_unexpected_counts": [{"value": v, "count": 1} for v in _inputs(cases)],
                  "partial_unexpected_index_list": [{column: v, "psn_no": "P1"} for v in _inputs(cases)],
                  "unexpected_index_query": f"df.filter(F.col('certno') == '{ID18}')"}
        mask_result(result, column)
        assert result["partial_unexpected_list"] == _expected(cases)
        assert [c["value"] for c in result["partial_unexpected_counts"]] == _expected(cases)
        assert [r[column] for r in result["partial_unexpected_index_list"]] == _expected(cases)
        assert {r["psn_no"] for r in result["partial_unexpected_index_list"]} == {"P1"}
        assert ID18 not in result["unexpected_index_query"] and "610102********1234" in result["unexpected_index_query"]
    assert [mask_text(v) for v in _inputs(TEXTS)] == _expected(TEXTS)


def test_fraud_export_masks_with_the_rule():
    """The export masks its certno, tel and person-name columns with yibao.masking, and keeps no rule of its own."""
    import inspect

    from yibao.fraud import suspects

    assert suspects.mask_values is masking.mask_values
    source = inspect.getsource(suspects.export)
    assert 'mask_values("certno"' in source and 'mask_values("tel"' in source and 'mask_values("psn_name"' in source
    assert not [n for n in vars(suspects) if n.startswith("mask_") and n != "mask_values"]


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """A read-path file with the edge cases in the gold and meta tables, opened read-only as Superset opens it."""
    import duckdb

    from yibao.dashboards import readpath

    root = tmp_path_factory.mktemp("serving")
    reg = readpath.register(root, root / "warehouse")
    con = duckdb.connect(str(reg.path))
    names, certnos = _inputs(NAMES), _inputs(CERTNOS)
    for i in range(max(len(names), len(certnos))):
        con.execute("insert into gold.uninsured_person (person_id, certno, psn_name) values (?, ?, ?)",
                    [f"P{i:02d}", certnos[i] if i < len(certnos) else None, names[i] if i < len(names) else None])
    for i, name in enumerate(names):
        con.execute("insert into gold.fraud_suspect (suspect_id, subject_type, subject_name) values (?, 'person', ?)",
                    [f"S{i:02d}", name])
    con.execute("insert into gold.fraud_suspect (suspect_id, subject_type, subject_name) "
                "values ('S99', 'institution', '西安市第一医院')")
    lines = [*_inputs(TEXTS), json.dumps(JSON_ROW, ensure_ascii=False)]
    for i, line in enumerate(lines):
        con.execute("insert into meta.quarantine (source, source_table, batch_id, line_number, reason, raw_line, rule) "
                    "values ('medins', 'psn_info', 'b', ?, ?, ?, 'ingest.parse')", [i, line, line])
        con.execute("insert into meta.steward_decision (decision_id, source, source_table, batch_id, reason) "
                    "values (?, 'medins', 'psn_info', 'b', ?)", [f"D{i:02d}", line])
    con.close()
    con = readpath.connect(root)
    yield con
    con.close()


def test_dashboards_mask_like_the_rule(serving):
    rows = serving.execute("select person_id, certno_masked, psn_name_masked from serving.uninsured_person "
                           "order by person_id").fetchall()
    assert [r[1] for r in rows[:len(CERTNOS)]] == _expected(CERTNOS)
    assert [r[2] for r in rows[:len(NAMES)]] == _expected(NAMES)
    rows = serving.execute("select suspect_id, subject_name_masked from serving.fraud_suspect order by suspect_id").fetchall()
    assert [r[1] for r in rows] == [*_expected(NAMES), "西安市第一医院"]   # institutions are not persons
    rows = serving.execute("select line_number, raw_line_masked, reason from serving.quarantine "
                           "order by line_number").fetchall()
    assert [r[1] for r in rows[:-1]] == _expected(TEXTS) and [r[2] for r in rows[:-1]] == _expected(TEXTS)
    assert json.loads(rows[-1][1]) == JSON_MASKED
    assert list(json.loads(rows[-1][1])) == list(JSON_ROW)           # the row keeps its columns' order
    reasons = serving.execute("select reason from serving.steward_decision order by decision_id").fetchall()
    assert [r[0] for r in reasons[:-1]] == _expected(TEXTS)


def test_every_caller_agrees(serving):
    """The same values through the three stages: identical output."""
    from yibao.quality.mask import mask_value

    for column, cases, view, col in (("certno", CERTNOS, "uninsured_person", "certno_masked"),
                                     ("psn_name", NAMES, "uninsured_person", "psn_name_masked")):
        shown = [r[0] for r in serving.execute(f"select {col} from serving.{view} order by person_id").fetchall()]
        assert shown[:len(cases)] == masking.mask_values(column, _inputs(cases)) == \
            [mask_value(column, v) for v in _inputs(cases)]
    line = json.dumps(JSON_ROW, ensure_ascii=False)
    (shown,) = serving.execute("select raw_line_masked from serving.quarantine where raw_line_masked like '{%'").fetchone()
    assert json.loads(shown) == {k: masking.mask_value(k, v) for k, v in JSON_ROW.items()}
    assert ID18 not in shown and line != shown
