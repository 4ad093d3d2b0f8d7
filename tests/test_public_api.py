"""The public API is importable from the top-level package, and light things stay light."""

from __future__ import annotations

import subprocess
import sys

import relgraph


def test_every_public_name_resolves() -> None:
    for name in relgraph.__all__:
        assert getattr(relgraph, name) is not None, name


def test_connect_query_and_baselines_do_not_import_torch() -> None:
    code = (
        "import sys, relgraph; relgraph.connect; relgraph.parse; relgraph.build_task; "
        "relgraph.LightGBMPredictor; relgraph.build_graph; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
