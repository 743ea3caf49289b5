"""Great Expectations plumbing: one file Data Context under ``<data_root>/reports/gx`` (generated, never
edited by hand: the suites are code in :mod:`yibao.quality.suites`), one Spark datasource, a dataframe
asset + whole-dataframe batch definition + validation definition + checkpoint per validated table, and the
Data Docs site at ``<data_root>/reports/data_docs/``.

Every value sample GE keeps is masked (:mod:`yibao.quality.mask`) *before* GE stores the validation result,
so neither the stored JSON nor the Data Docs ever hold a clear ID number, phone or name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from yibao.config import Settings  # noqa: E402
from yibao.quality.mask import mask_result  # noqa: E402
from yibao.quality.suites import Suite  # noqa: E402

DATASOURCE = "yibao_engine"
SITE = "local_site"
PARTIAL_SAMPLES = 5

for _name in ("great_expectations", "great_expectations.core", "great_expectations.expectations"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def reports_dir(settings: Settings) -> Path:
    return Path(settings.data_root).resolve() / "reports"


def docs_dir(settings: Settings) -> Path:
    return reports_dir(settings) / "data_docs"


def context(settings: Settings):
    """The file Data Context of this data root, configured (idempotently) for our use."""
    root = reports_dir(settings) / "gx"
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if ctx.config.analytics_enabled is not False:
        ctx.enable_analytics(False)
    site = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir(settings)) + "/"},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    sites = ctx.list_data_docs_sites()
    if sites.get(SITE) != site:
        for name in list(sites):
            if name != SITE:
                ctx.delete_data_docs_site(name)
        if SITE in sites:
            ctx.update_data_docs_site(SITE, site)
        else:
            ctx.add_data_docs_site(SITE, site)
    _mask_before_storing(ctx)
    return ctx


def _mask_before_storing(ctx) -> None:
    """Wrap the validation-results store so results are masked before anything is written."""
    store = ctx.validation_results_store
    if getattr(store, "_yibao_masked", False):
        return
    original = store.store_validation_results

    def store_masked(suite_validation_result, *args, **kwargs):
        for r in suite_validation_result.results:
            meta = r.expectation_config.meta or {}
            mask_result(r.result, meta.get("column") or r.expectation_config.kwargs.get("column"))
        return original(suite_validation_result, *args, **kwargs)

    store.store_validation_results = store_masked
    store._yibao_masked = True


def _expectation(check) -> gxe.Expectation:
    cls = getattr(gxe, check.expectation)
    meta = {"severity": check.severity, "rule": check.rule, "check_id": check.id, "title": check.title,
            "column": check.column, "dimension": check.dimension}
    return cls(**check.kwargs, meta=meta, notes=f"[{check.severity}] {check.title}")


def checkpoint_for(ctx, suite: Suite):
    """(Re)define suite, asset, batch definition, validation definition and checkpoint of one table."""
    ds = ctx.data_sources.add_or_update_spark(name=DATASOURCE, persist=False) \
        if DATASOURCE not in ctx.data_sources.all() else ctx.data_sources.get(DATASOURCE)
    asset_names = {a.name for a in ds.assets}
    asset = ds.get_asset(suite.name) if suite.name in asset_names else ds.add_dataframe_asset(name=suite.name)
    try:
        batch_def = asset.get_batch_definition("whole")
    except KeyError:
        batch_def = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=[_expectation(c) for c in suite.checks],
                                   meta={"layer": suite.schema, "source": suite.source,
                                         "source_table": suite.source_table})
    gx_suite = ctx.suites.add_or_update(gx_suite)
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_def, suite=gx_suite))
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_SAMPLES}
    if suite.index_columns:
        result_format["unexpected_index_column_names"] = list(suite.index_columns)
        result_format["return_unexpected_index_query"] = False
    return ctx.checkpoints.add_or_update(
        gx.Checkpoint(name=suite.name, validation_definitions=[vd], actions=[], result_format=result_format))


def run_checkpoint(checkpoint, dataframe, parameters: dict, run_id):
    """Validate ``dataframe``; returns (GE suite validation result, its result identifier)."""
    res = checkpoint.run(batch_parameters={"dataframe": dataframe}, expectation_parameters=parameters,
                         run_id=run_id)
    (key, vr), = res.run_results.items()
    return vr, key


def build_docs(ctx, keys: list) -> str:
    """Render the Data Docs pages of this run's results (and the suites) and the index."""
    ctx.build_data_docs(site_names=[SITE], resource_identifiers=keys or None)
    return ctx.get_docs_sites_urls(site_name=SITE)[0]["site_url"]
