"""The neutral packages never import a framework: only backends/<name>/ does, inside a worker."""

import subprocess
import sys


def test_neutral_packages_leave_frameworks_out():
    code = ("import sys, suites, harness, reports, run_bench\n"
            "import suites.registry, suites.suite, suites.reference, suites.data.registry\n"
            "import harness.suite_run, harness.runner, harness.worker, harness.protocol, harness.parity, store\n"
            "import commands.measure, commands.show, commands.nightly, reports.table, reports.export, reports.html\n"
            "import backends.registry, backends.base, common.stats\n"
            "bad = [m for m in ('torch', 'tensorflow', 'jax', 'flax', 'optax', 'keras') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"frameworks imported: {out.stdout.strip()}"
