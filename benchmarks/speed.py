"""Many models, one program: what training members together (``aecompare.train.members``) buys, as ratios measured
in one run on one machine (issue 22's done-when list).

1. ``pyod``: the AE at PyOD's settings (10 epochs, batch 32) on the six ``tabular/`` tables: five seeds fitted
   together (``Detector(ensemble=5)``, whole fit / 5 = per model) against PyOD's AutoEncoder (its defaults:
   10 epochs, batch 32), and one seed alone.
2. ``ensemble``: ``Detector(ensemble=5)`` against ``Detector()`` with the defaults (50 epochs, batch 64), same
   tables.
3. ``cae``: the CAE of ``oneclass-mnist`` (its spec's training settings, digit 0's one-class split): three members
   as aecompare trains them on this device (on the CPU one after another) and stacked under ``vmap``, against one
   member, over ``--cae-epochs`` epochs (the ratio is per epoch). On a GPU both columns are the stacked program.
4. ``donors``: one epoch of the AE on donors (tabular-dev, 619k rows x 10) at batch 32 and 1024 against
   IsolationForest's whole fit.

Every timing is a whole ``fit`` (set-up, training, scoring the training rows), after one untimed warm-up fit of
each library. Each part prints its table as it goes.

    python benchmarks/speed.py [--parts pyod ensemble cae donors] [--tables cardio ...]

Needs ``$AECOMPARE_DATA`` (or --data-dir) holding ``tabular/``, ``MNIST/`` and ``tabular-dev/``; PyOD's row needs
the bench extra (``pip install '.[bench]'``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

TABLES = ("cardio", "thyroid", "annthyroid", "mammography", "satellite", "shuttle")
PARTS = ("pyod", "ensemble", "cae", "donors")


def seconds(fn, *args, **kwargs) -> float:
    """Wall seconds of ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def table_rows(table: str, data_dir: str) -> np.ndarray:
    """The normal training rows of ``table``'s one-class split (as the ``tabular`` experiment makes it)."""
    from aecompare.data import load_dataset

    return load_dataset("tabular", data_dir, table=table).x_train.astype(np.float32)


def pyod_part(tables: list[str], data_dir: str) -> list[str]:
    from pyod.models.auto_encoder import AutoEncoder

    from aecompare import Detector

    lines = [
        "| table | rows x columns | PyOD AutoEncoder s | AE alone s | AE 5 together s | per model s | "
        "PyOD ÷ per model | 5 together ÷ alone |",
        "|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    warm = np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32)
    AutoEncoder(epoch_num=1, batch_size=32, verbose=0, random_state=0).fit(warm)  # untimed: PyOD's first-fit costs
    for table in tables:
        x = table_rows(table, data_dir)
        pyod = seconds(AutoEncoder(epoch_num=10, batch_size=32, verbose=0, random_state=0).fit, x)
        alone = seconds(Detector("ae", epochs=10, batch_size=32, random_state=0).fit, x)
        five = seconds(Detector("ae", epochs=10, batch_size=32, ensemble=5, random_state=0).fit, x)
        lines.append(
            f"| {table} | {len(x):,} x {x.shape[1]} | {pyod:.2f} | {alone:.2f} | {five:.2f} | {five / 5:.2f} | "
            f"**{pyod / (five / 5):.1f}x** | {five / alone:.2f} |"
        )
        print(lines[-1], flush=True)
    return lines


def ensemble_part(tables: list[str], data_dir: str) -> list[str]:
    from aecompare import Detector

    lines = [
        "| table | Detector() s | Detector(ensemble=5) s | ratio | epochs run (one / members) |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for table in tables:
        x = table_rows(table, data_dir)
        one = Detector(random_state=0)
        alone = seconds(one.fit, x)
        five = Detector(ensemble=5, random_state=0)
        together = seconds(five.fit, x)
        epochs = "/".join(str(len(m.history)) for m in five.members_)
        lines.append(
            f"| {table} | {alone:.1f} | {together:.1f} | **{together / alone:.2f}** | {len(one.history_)} / {epochs} |"
        )
        print(lines[-1], flush=True)
    return lines


def cae_part(data_dir: str, epochs: int) -> list[str]:
    import dataclasses

    from aecompare.core.runtime import seed_everything
    from aecompare.data import load_dataset, one_class_split
    from aecompare.fitting import train_models
    from aecompare.models import build_model
    from aecompare.studies.grid.plan import expand_runs, fit_settings
    from aecompare.studies.grid.spec import load_spec
    from aecompare.train.members import fit_members

    spec = load_spec("oneclass-mnist")
    datasets = {d.key: load_dataset(d.name, data_dir, **d.params) for d in spec.datasets}
    run = next(r for r in expand_runs(spec, datasets) if r.model.label == "CAE" and tuple(r.normal) == ("0",))
    dataset = datasets[run.dataset.key]
    split = one_class_split(dataset, run.normal, val_fraction=spec.evaluation.val_fraction, seed=0)
    settings = fit_settings(spec, run, split)
    settings = dataclasses.replace(settings, train=dataclasses.replace(settings.train, epochs=epochs))
    start = time.perf_counter()
    trained = train_models(split.x_train, split.x_val, settings, seeds=[0])[0]
    one = time.perf_counter() - start
    chosen = seconds(train_models, split.x_train, split.x_val, settings, seeds=[0, 1, 2])
    models = []
    for seed in (0, 1, 2):
        seed_everything(seed)
        models.append(build_model(settings.model, split.input_shape, **settings.model_params))
    stacked = seconds(fit_members, models, trained.xt, trained.xv, settings.train, seeds=[0, 1, 2], progress=False)
    lines = [
        "| model | training images | epochs | one member s | three as aecompare trains them here s | ratio | "
        "three stacked under vmap s | ratio |",
        "|---|---|---|---|---|---|---|---|",
        f"| {run.model.name} | {len(split.x_train):,} | {epochs} | {one:.1f} | {chosen:.1f} | **{chosen / one:.2f}** | "
        f"{stacked:.1f} | **{stacked / one:.2f}** |",
    ]
    print("\n".join(lines), flush=True)
    return lines


def donors_part(data_dir: str) -> list[str]:
    from sklearn.ensemble import IsolationForest

    from aecompare import Detector
    from aecompare.data import load_dataset

    path = Path(data_dir) / "tabular-dev" / "11_donors.npz"
    x = load_dataset("table", data_dir, path=str(path)).x_train.astype(np.float32)
    forest = seconds(IsolationForest(random_state=0).fit, x)
    lines = [
        "| method | donors rows x columns | s | ÷ IsolationForest |",
        "|---|---|---|---|",
        f"| IsolationForest (whole fit) | {len(x):,} x {x.shape[1]} | {forest:.2f} | 1 |",
    ]
    for batch in (32, 1024):
        epoch = seconds(Detector("ae", epochs=1, batch_size=batch, random_state=0).fit, x)
        lines.append(f"| AE, one epoch at batch {batch} (whole fit) | | {epoch:.2f} | **{epoch / forest:.1f}** |")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    parser.add_argument("--cae-epochs", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    from quick_comparison import command_line, machine

    from aecompare import Detector
    from aecompare.data.dataset import resolve_data_dir

    data_dir = str(resolve_data_dir(args.data_dir))
    warm = np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32)
    Detector("ae", epochs=2, ensemble=2, random_state=0).fit(warm)  # untimed: torch's first-call costs
    print(f"## Members trained as one program ({dt.date.today().isoformat()})\n")
    print(f"- Command: `{command_line()}`")
    print(f"- Machine: {machine()}\n")
    for part in args.parts:
        print(f"### {part}\n", flush=True)
        if part == "pyod":
            pyod_part(args.tables, data_dir)
        elif part == "ensemble":
            ensemble_part(args.tables, data_dir)
        elif part == "cae":
            cae_part(data_dir, args.cae_epochs)
        else:
            donors_part(data_dir)
        print(flush=True)


if __name__ == "__main__":
    main()
