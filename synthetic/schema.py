"""The generator's view of the data contract, and what only the generator decides.

Tables, columns (contract order) and keys come from the contract registry, :mod:`yibao.contract`, in the
shapes the generator indexes them by (pandas takes lists of columns).  What stays here is the generator's own
choice of how a department delivers: which departments deliver GBK, and the extra non-contract columns some
files carry (ingestion must keep them in ``_extra``).
"""

from yibao.contract import TABLES

# source -> table -> columns in contract order
SOURCES: dict[str, dict[str, list[str]]] = {}
for _t in TABLES:
    SOURCES.setdefault(_t.source, {})[_t.name] = list(_t.columns)
# table -> key columns (table names are unique across sources)
KEYS: dict[str, list[str]] = {_t.name: list(_t.keys) for _t in TABLES}

ENCODING = {"police": "gbk", "civil_affairs": "gbk"}
# Extra (non-contract) columns the generator adds, which ingestion must keep.
EXTRA = {("medins", "psn_info"): ["updt_time", "ext_remark"], ("medins", "psn_insu"): ["updt_time"],
         ("civil_affairs", "assistance_pay"): ["psn_name"]}


def encoding_of(source: str) -> str:
    return ENCODING.get(source, "utf-8")
