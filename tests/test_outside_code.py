"""Outside code named by module:Class fails as one line, never a traceback or a silent exit."""

from __future__ import annotations

import sys

import pytest

from sim import cli


@pytest.mark.parametrize("spec, message", [
    ("sys:exit", "'exit' is not a class"),
    ("gpusim_boom_mod:X", "cannot import 'gpusim_boom_mod': boom here"),
    ("gpusim_ctor_mod:Policy", "policy 'gpusim_ctor_mod:Policy': 'bad constructor'"),
])
def test_outside_policies_fail_in_one_line(tmp_path, monkeypatch, capsys, spec, message):
    (tmp_path / "gpusim_boom_mod.py").write_text('raise RuntimeError("boom\\nhere")\n')
    (tmp_path / "gpusim_ctor_mod.py").write_text(
        "class Policy:\n    def __init__(self):\n        raise KeyError('bad constructor')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["run", "--policy", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    sys.modules.pop("gpusim_boom_mod", None)
