"""The watchdog (yibao.watchdog): a section whose embedded engine sits idle with work outstanding fails, on the
real engine.  A Python UDF that sleeps stands for the hang seen at 10M (a query outstanding, no thread working)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from yibao.watchdog import GRACE_S, HUNG_EXIT, EngineHung, is_hung, watch


def test_is_hung_needs_a_whole_window_of_idle_cpu():
    busy = [(t, 0.9 * t) for t in range(0, 31)]                 # 90 % of a core for 30 s
    idle = [(t, 1.0) for t in range(0, 31)]                      # no CPU for 30 s
    assert not is_hung(busy, window_s=10)
    assert is_hung(idle, window_s=10)
    assert not is_hung(idle[:10], window_s=10)                   # open 9 s: not yet a whole window
    # busy until t = 25, idle since: the last 10 s window still contains work
    mixed = [(t, 0.9 * min(t, 25)) for t in range(0, 31)]
    assert not is_hung(mixed, window_s=10)
    assert is_hung(mixed + [(t, 0.9 * 25) for t in range(31, 40)], window_s=10)
    # a trickle below the threshold (1 % of a core) is idle; 5 % is work
    assert is_hung([(t, 0.01 * t) for t in range(0, 31)], window_s=10)
    assert not is_hung([(t, 0.05 * t) for t in range(0, 31)], window_s=10)
    assert not is_hung([], window_s=10) and not is_hung(idle, window_s=0)


def test_an_idle_query_is_interrupted_and_the_section_fails_by_name(settings):
    from pyspark.sql import functions as F

    from yibao.engine import spark_session

    spark = spark_session(settings)

    @F.udf("long")
    def stall(x):
        time.sleep(0.5)
        return x

    started = time.monotonic()
    with pytest.raises(EngineHung, match="stage under test: the engine was idle for 1 s"):
        # 24 single-row partitions of 0.5 s each: ~6 s of a query whose threads only wait; it ends within the
        # grace period (a UDF's batch is not cut short by the interrupt, an engine wait is), so the section
        # fails and the process goes on
        with watch(settings.with_(engine_idle_timeout_s=1), "stage under test"):
            spark.range(0, 24, 1, 24).select(stall("id").alias("x")).agg(F.sum("x")).collect()
    assert time.monotonic() - started < GRACE_S
    # the engine is usable afterwards, and a section that works is not disturbed
    with watch(settings.with_(engine_idle_timeout_s=2), "busy stage"):
        assert spark.range(10**8).selectExpr("sum(id % 7) as s").collect()[0]["s"] > 0
        assert spark.range(5).count() == 5


def test_a_query_the_interrupt_cannot_end_ends_the_process(tmp_path):
    # one batch whose UDF sleeps 300 s: the interrupt cannot end it, the process exits after the grace period
    script = textwrap.dedent(f"""
        import time
        from pyspark.sql import functions as F
        from yibao.config import Settings
        from yibao.engine import spark_session
        from yibao.watchdog import watch

        settings = Settings(data_root={str(tmp_path)!r}, spark_remote="", engine_idle_timeout_s=2)
        spark = spark_session(settings)

        @F.udf("long")
        def stall(x):
            time.sleep(300)
            return x

        with watch(settings, "stuck stage"):
            spark.range(1).select(stall("id")).collect()
        print("not reached")
    """)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=GRACE_S + 120)
    assert proc.returncode == HUNG_EXIT, proc.stderr[-2000:]
    assert "stuck stage: the engine was idle for 2 s" in proc.stderr
    assert f"exiting (code {HUNG_EXIT})" in proc.stderr
    assert "not reached" not in proc.stdout
    assert time.monotonic() - started < GRACE_S + 60


def test_the_watchdog_can_be_switched_off(settings):
    from pyspark.sql import functions as F

    from yibao import watchdog
    from yibao.engine import spark_session

    spark = spark_session(settings)

    @F.udf("long")
    def stall(x):
        time.sleep(0.5)
        return x

    # the query that fails by name at engine_idle_timeout_s = 1 (above) runs through when the watchdog is off
    with watch(settings.with_(engine_idle_timeout_s=0), "unwatched"):
        assert not watchdog._monitor.sections
        assert spark.range(0, 12, 1, 12).select(stall("id").alias("x")).agg(F.sum("x")).collect()[0][0] == 66
    with pytest.raises(ValueError, match="engine_idle_timeout_s"):
        settings.with_(engine_idle_timeout_s=-1)
