"""The verification file returned to the national platform (国家下发未参保名单核查结果回传).

The national platform sends each province a list of persons registered there who are not insured
(``national/national_uninsured``).  The warehouse checks every entry (``gold.national_list_review``) and publishes
the answer as ``gold.national_list_return``: the entry as it was sent down (ID number, name, hukou division, issue
batch) with the result code, its Chinese label and the fact behind it.  This module writes that table as one file
per prefecture (地市) for the staff who upload it, in the list's own columns plus the result, with Chinese headers.

The return goes to the national platform, so ID numbers and names are written as delivered (unmasked); every
export is recorded in ``meta.export_audit`` like the suspect export.  Cells are escaped against formula
injection (:mod:`yibao.export`): names come from departments' files.
"""

from __future__ import annotations

from pathlib import Path

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.engine import spark_session
from yibao.export import file_part, record_export, write_csv, write_xlsx

# gold.national_list_return column -> header of the return file (the list's columns first, in its order)
HEADERS = {"certno": "身份证号码", "psn_name": "姓名", "hsreg_admdvs": "户籍地区划代码", "issue_batch": "下发批次",
           "result_code": "核查结果代码", "result_name": "核查结果", "result_note": "核查说明",
           "verified_date": "核查基准日期"}
FORMATS = ("xlsx", "csv")


def export_return(settings: Settings, out_dir: Path, fmt: str = "xlsx", region: str | None = None,
                  user: str | None = None) -> dict:
    """Write ``核查结果_<地市代码>_<地市>.<fmt>`` per prefecture into ``out_dir`` (only ``region``'s when given:
    a prefecture code such as 610100, or its first four digits) and audit the export.

    Returns {"files": [paths], "rows": n, "regions": {code: rows}, "export_id": ...}.  Raises ``ValueError`` for an
    unknown format or a region with no entries, ``LookupError`` when the warehouse has no return table yet."""
    from pyspark.sql import functions as F

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    if not cat.exists("gold", "national_list_return"):
        raise LookupError("gold.national_list_return does not exist: run `yibao run` (or `yibao transform build`) first")
    df = cat.read("gold", "national_list_return")
    code = None
    if region:
        code = region.strip()
        if not (code.isdigit() and len(code) in (4, 6)):
            raise ValueError(f"region must be a prefecture code (6 digits, e.g. 610100) or its first 4 digits, not {region!r}")
        df = df.where(F.col("region").startswith(F.lit(code[:4])))
    rows = df.select(*HEADERS, "region", "region_name").orderBy("region", "issue_batch", "hsreg_admdvs",
                                                                "certno").toPandas()
    if region and rows.empty:
        raise ValueError(f"no entry of the national list belongs to region {region}")
    names = rows.groupby("region")["region_name"].first().to_dict()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files, per_region = [], {}
    for reg, part in rows.groupby("region", sort=True):
        table = part[list(HEADERS)].rename(columns=HEADERS)
        table["核查基准日期"] = table["核查基准日期"].astype(str)
        path = out_dir / f"核查结果_{file_part(reg)}_{file_part(names.get(reg) or '')}.{fmt}"
        if fmt == "xlsx":
            write_xlsx(table, path, sheet_name="核查结果")
        else:
            write_csv(table, path)
        files.append(path)
        per_region[reg] = len(table)
    rec = record_export(cat, user=user, role="national_return", filt={"region": code} if code else {},
                        row_count=len(rows), file=out_dir, fmt=fmt, unmasked="certno,name")
    return {"files": files, "rows": len(rows), "regions": per_region, "export_id": rec["export_id"]}
