"""The six development tables of 95k-620k rows: seconds per training epoch and peak memory of aecompare's
Detector beside PyOD's AutoEncoder and scikit-learn's IsolationForest on the same one-class split.

Each (table, method) runs in a fresh process, so its peak resident memory is its own (loading the table
included). The AE and PyOD's AutoEncoder train one epoch at PyOD's batch size (32); IsolationForest's whole fit
is timed; each figure is the whole fit (set-up, training, scoring the training rows). The test AUROC is shown
for information only (one epoch is not a trained model).

    python benchmarks/large_tables.py [--tables cover donors ...] [--methods aecompare pyod iforest]

Needs ``$AECOMPARE_DATA`` (or --data-dir) holding ``tabular-dev/``; PyOD's row needs the bench extra
(``pip install '.[bench]'``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

TABLES = {
    "cover": "10_cover",
    "donors": "11_donors",
    "http": "16_http",
    "skin": "33_skin",
    "smtp": "34_smtp",
    "celeba": "8_celeba",
}
METHODS = ("aecompare", "pyod", "iforest")


def measure(method: str, table: str, data_dir: str) -> dict:
    """Fit ``method`` on the normal training rows of ``table``; seconds, peak memory and test AUROC."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from aecompare.data import load_dataset

    data = load_dataset("table", data_dir, path=str(Path(data_dir) / "tabular-dev" / f"{TABLES[table]}.npz"))
    x_train, x_test, y_test = data.x_train.astype(np.float32), data.x_test.astype(np.float32), data.y_test
    start = time.perf_counter()
    if method == "aecompare":
        from aecompare import Detector

        det = Detector("ae", epochs=1, batch_size=32, random_state=0).fit(x_train)
        seconds, scores = time.perf_counter() - start, det.decision_function(x_test)
    elif method == "pyod":
        from pyod.models.auto_encoder import AutoEncoder

        det = AutoEncoder(epoch_num=1, batch_size=32, verbose=0, random_state=0).fit(x_train)
        seconds, scores = time.perf_counter() - start, det.decision_function(x_test)
    else:
        from sklearn.ensemble import IsolationForest

        det = IsolationForest(random_state=0).fit(x_train)
        seconds, scores = time.perf_counter() - start, -det.score_samples(x_test)
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "auroc": float(roc_auc_score(y_test, scores)),
        "rows": len(x_train),
        "columns": x_train.shape[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from aecompare.data.dataset import resolve_data_dir

    data_dir = str(resolve_data_dir(args.data_dir))
    if args.one:
        print(json.dumps(measure(*args.one, data_dir)))
        return
    from quick_comparison import command_line, machine

    print(
        f"## Large tables: an epoch and peak memory beside PyOD and IsolationForest ({dt.date.today().isoformat()})\n"
    )
    print(f"- Command: `{command_line()}`")
    print(f"- Machine: {machine()}\n")
    print(
        "| table | training rows x columns | method | fit s (whole fit; the AEs: one epoch) | "
        "÷ IsolationForest | peak MB | test AUROC |"
    )
    print("|---|---|---|---|---|---|---|")
    for table in args.tables:
        results = {}
        for method in args.methods:
            done = subprocess.run(
                [sys.executable, __file__, "--one", method, table, "--data-dir", data_dir],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if done.returncode:
                print(f"| {table} | | {method} | failed: {done.stderr.strip().splitlines()[-1][:120]} | | | |")
                continue
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        forest = results.get("iforest", {}).get("seconds")
        for method, r in results.items():
            ratio = f"{r['seconds'] / forest:.1f}" if forest else "–"
            print(
                f"| {table} | {r['rows']:,} x {r['columns']} | {method} | {r['seconds']:.1f} | {ratio} | "
                f"{r['peak_mb']:.0f} | {r['auroc']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
