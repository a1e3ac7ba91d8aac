"""The run path stays light: a plain ``gpusim run`` imports none of the heavy libraries (issue 8)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import traces

HEAVY = ("pandas", "scipy", "matplotlib", "pyarrow", "tensorflow", "ray")


def test_a_plain_run_imports_no_heavy_library(tmp_path):
    """Replaying a trace with each of the benchmarked policies loads none of HEAVY (in a fresh
    interpreter, so nothing the test run imported counts)."""
    code = textwrap.dedent(f"""
        import io, sys, contextlib
        from sim.cli import main
        for policy in ("fifo", "srtf", "tiresias", "fifo-backfill"):
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["run", "--trace", {str(traces.SAMPLE)!r}, "--cluster", "8x8",
                             "--placement", "pool", "--policy", policy, "--until", "200000"]) == 0
        print("RESULT", sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "RESULT []"
