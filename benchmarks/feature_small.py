"""Temporal features of N distinct (customer, time) rows: the small-batch path against the batch path.

Decides ``relgraph.baselines.feature_small.SMALL_BATCH_ROWS`` (the row count up to which a
transform takes the small-batch path). On the demo shop: a builder fitted on every customer at
the latest time, then, warm (running tables and plans cached, as in a running ``serve``), the
median time of ``--repeats`` transforms of N different customers per path.

    .venv/bin/python benchmarks/feature_small.py --scale 0.05
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from relgraph.baselines import feature_small  # noqa: E402
from relgraph.baselines.aggregates import TemporalFeatureBuilder  # noqa: E402
from relgraph.baselines.feature_batch import _FRAME_CACHE  # noqa: E402
from relgraph.database import connect  # noqa: E402
from relgraph.demo.generate import make_demo_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.05, help="demo size (1.0: ~3k customers)")
    parser.add_argument("--rows", default="1,10,50,100,200,500,1000")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="relgraph_feature_small_"))
    make_demo_database(folder / "demo.db", seed=0, scale=args.scale)
    db = connect(f"sqlite:///{folder / 'demo.db'}")
    ids = db.table("customers").column("customer_id").to_numpy()
    latest = pd.Timestamp(db.time_span()[1])
    builder = TemporalFeatureBuilder(max_features=None).fit(
        db, "customers", pd.DataFrame({"customer_id": ids, "timestamp": latest}))
    limit = feature_small.SMALL_BATCH_ROWS
    rng = np.random.default_rng(0)
    print(f"demo scale {args.scale} ({len(ids)} customers), {len(builder.features_ or [])} features, warm caches, "
          f"median of {args.repeats}; threshold now {limit}")
    print(f"{'rows':>6}{'small ms':>11}{'batch ms':>11}{'batch/small':>13}")
    for n in (int(r) for r in args.rows.split(",")):
        timings: dict[str, list[float]] = {"small": [], "batch": []}
        for path, rows in (("small", 10**9), ("batch", 0)):
            feature_small.SMALL_BATCH_ROWS = rows
            for k in range(args.repeats + 1):  # the first warms the caches
                # distinct times: no answer comes from the frame cache
                frame = pd.DataFrame({"customer_id": rng.choice(ids, n),
                                      "timestamp": latest - pd.to_timedelta(rng.integers(0, 10**6, n), "s")})
                _FRAME_CACHE.clear()
                started = time.perf_counter()
                builder.transform(db, frame)
                if k:
                    timings[path].append(time.perf_counter() - started)
        small, batch = (float(np.median(timings[p]) * 1000) for p in ("small", "batch"))
        print(f"{n:>6}{small:>11.1f}{batch:>11.1f}{batch / small:>13.2f}")
    feature_small.SMALL_BATCH_ROWS = limit
    return 0


if __name__ == "__main__":
    sys.exit(main())
