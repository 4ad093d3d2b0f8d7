"""``relgraph.query`` (and the ``relgraph query`` command module) work without torch."""

from __future__ import annotations

import subprocess
import sys


def test_query_package_imports_without_torch() -> None:
    code = (
        "import sys, relgraph.query, relgraph.cli.query; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
