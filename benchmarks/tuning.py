"""Issue 23's tuning on the 21-table development collection, by benchmarks/TUNING_RULE.md: every candidate
configuration and the 5-NN baseline on the same one-class splits, 3 seeds, then the rule's winner, the whole
candidate table and the label-free (meta-learned) choice evaluated leave-one-table-out.

    python benchmarks/tuning.py --out bench-runs/tuning [--workers 2] [--tables cardio ...] [--seeds 0 1 2]
    python benchmarks/tuning.py --out bench-runs/tuning --summary      # the tables for RESULTS.md

Each (table, seed) is one task, written atomically to ``<out>/<table>-<seed>.json`` when it finishes: a second
call resumes. Needs ``$AECOMPARE_DATA`` (or --data-dir) holding ``tabular/`` and ``tabular-dev/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from aecompare.data.split import validation_split
from aecompare.report.verdict import compare, headline

# table name -> file under the data directory (TUNING_RULE.md's collection)
TABLES = {
    "cardio": "tabular/6_cardio.npz",
    "thyroid": "tabular/38_thyroid.npz",
    "annthyroid": "tabular/2_annthyroid.npz",
    "mammography": "tabular/23_mammography.npz",
    "satellite": "tabular/30_satellite.npz",
    "shuttle": "tabular/32_shuttle.npz",
    "ALOI": "tabular-dev/1_ALOI.npz",
    "campaign": "tabular-dev/5_campaign.npz",
    "celeba": "tabular-dev/8_celeba.npz",
    "cover": "tabular-dev/10_cover.npz",
    "donors": "tabular-dev/11_donors.npz",
    "http": "tabular-dev/16_http.npz",
    "landsat": "tabular-dev/19_landsat.npz",
    "magic.gamma": "tabular-dev/22_magic.gamma.npz",
    "mnist": "tabular-dev/24_mnist.npz",
    "optdigits": "tabular-dev/26_optdigits.npz",
    "PageBlocks": "tabular-dev/27_PageBlocks.npz",
    "pendigits": "tabular-dev/28_pendigits.npz",
    "satimage-2": "tabular-dev/31_satimage-2.npz",
    "skin": "tabular-dev/33_skin.npz",
    "smtp": "tabular-dev/34_smtp.npz",
}
MAX_TRAIN_ROWS = 20_000
VALIDATION_FRACTION = 0.2
TIE = 0.002
WIDE = {"hidden": (128, 128), "latent_dim": 128}
# training name -> (changes from Detector()'s defaults, the scorers measured on it); TUNING_RULE.md's table
TRAININGS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "vae": ({}, ("mse", "mse+latent_knn")),
    "ae": (
        {"model": "ae"},
        (
            "mse",
            "mse+latent_knn",
            "latent_knn",
            "mse+latent_mahalanobis",
            "latent_mahalanobis",
            "mse+latent_meanshift",
        ),
    ),
    "ae-wide-dropout": ({"model": "ae", "model_params": {**WIDE, "dropout": 0.2}}, ("mse", "mse+latent_knn")),
    "ae-wide-denoise": ({"model": "ae", "model_params": {**WIDE, "input_noise": 0.2}}, ("mse", "mse+latent_knn")),
    "ae-short": ({"model": "ae", "epochs": 5, "early_stopping_patience": 0}, ("mse", "mse+latent_knn")),
    "ae-x5": ({"model": "ae", "ensemble": 5}, ("mse", "mse+latent_knn")),
    "ae-robust": ({"model": "ae", "scaling": "robust"}, ("mse", "mse+latent_knn")),
    "ae-bn": ({"model": "ae", "model_params": {"batch_norm": True}}, ("mse", "mse+latent_knn")),
}
DEFAULT_CANDIDATE = "vae/mse"
# Detector.AUTO_CANDIDATES in this file's names (the benchmark's own table scores them)
AUTO_CANDIDATES_OF_RULE = (
    ("ae", "latent_knn"),
    ("vae", "mse+latent_knn"),
    ("ae", "mse+latent_knn"),
    ("ae", "mse+latent_mahalanobis"),
)


def candidates() -> list[str]:
    """Every configuration, ``training/scorer``, in the rule's order."""
    return [f"{t}/{s}" for t, (_, scorers) in TRAININGS.items() for s in scorers]


def settings_of(training: str) -> Any:
    """The FitSettings a Detector(validation_fraction=0.2) with the training's changes would fit."""
    from aecompare.fitting import FitSettings
    from aecompare.train.loop import TrainConfig

    changes = TRAININGS[training][0]
    train = TrainConfig(device="cpu")  # Detector()'s epochs, batch and lr are TrainConfig's defaults
    for key in ("epochs", "early_stopping_patience"):
        if key in changes:
            train = dataclasses.replace(train, **{key: changes[key]})
    return FitSettings(
        model=changes.get("model", "vae"),
        model_params=dict(changes.get("model_params", {})),
        train=train,
        contamination=0.1,
        validation_fraction=VALIDATION_FRACTION,
        ensemble=changes.get("ensemble", 1),
        scaling=changes.get("scaling", "standard"),
    )


def split(table: str, seed: int, data_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rule's one-class split: normal training part (capped at 20,000 seeded rows), its 20% validation part,
    and the test set (30% of the normal rows plus every anomaly) with its labels."""
    x_normal, x_test, y = normal_and_test(table, seed, data_dir)
    train_idx, val_idx = validation_split(len(x_normal), VALIDATION_FRACTION, seed)  # as Detector.fit splits
    return x_normal[train_idx], x_normal[val_idx], x_test, y


def normal_and_test(table: str, seed: int, data_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normal training part (capped) before its validation split, the test set and its labels."""
    from aecompare.data import load_dataset

    data = load_dataset("table", data_dir, path=str(Path(data_dir) / TABLES[table]), seed=seed)
    x_normal = data.x_train
    if len(x_normal) > MAX_TRAIN_ROWS:
        keep = np.random.default_rng(seed).choice(len(x_normal), MAX_TRAIN_ROWS, replace=False)
        x_normal = x_normal[np.sort(keep)]
    return x_normal, data.x_test, np.asarray(data.y_test)


def meta_features(x: np.ndarray) -> dict[str, float]:
    """Label-free descriptors of a table from its normal training rows only (MetaOD-style, simple ones)."""
    from scipy.stats import kurtosis, skew

    x = x.astype(np.float64)
    std = x.std(0)
    z = (x[:, std > 0] - x[:, std > 0].mean(0)) / std[std > 0]
    eig = np.sort(np.linalg.eigvalsh(np.cov(z.T).reshape(z.shape[1], z.shape[1])))[::-1] if z.shape[1] else [1.0]
    distinct = np.array([len(np.unique(c)) for c in x.T])
    return {
        "log_rows": float(np.log10(len(x))),
        "log_features": float(np.log10(x.shape[1])),
        "share_constant": float((std == 0).mean()),
        "share_binary": float((distinct <= 2).mean()),
        "mean_abs_skew": float(np.nanmean(np.abs(skew(z, axis=0)))) if z.shape[1] else 0.0,
        "mean_kurtosis": float(np.log1p(np.nanmean(np.abs(kurtosis(z, axis=0))))) if z.shape[1] else 0.0,
        "top_component": float(eig[0] / max(np.sum(eig), 1e-12)),
        "components_90": float(np.searchsorted(np.cumsum(eig) / max(np.sum(eig), 1e-12), 0.9) + 1) / x.shape[1],
    }


def knn_baseline(x_normal: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance of each test row to its 5 nearest normal training rows, standard-scaled on them."""
    from sklearn.neighbors import NearestNeighbors

    from aecompare.data import Scaler

    scaler = Scaler.fit(x_normal, "standard")
    search = NearestNeighbors(n_neighbors=5).fit(scaler.transform(x_normal).astype(np.float64))
    return search.kneighbors(scaler.transform(x_test).astype(np.float64))[0].mean(1)


def run_training(name: str, x_train: np.ndarray, x_val: np.ndarray, x_test: np.ndarray, y: np.ndarray, seed: int):
    """Train ``name`` once (an ensemble: its members) and score the test set by each of its scorers."""
    import torch
    from sklearn.metrics import roc_auc_score

    from aecompare.fitting import combine_members, ensemble_seeds, finish_detector, mean_standardised, train_models

    settings = settings_of(name)
    start = time.perf_counter()
    trainings = train_models(x_train, x_val, settings, seeds=ensemble_seeds(seed, settings.ensemble))
    fit_seconds = time.perf_counter() - start
    out = {}
    for scorer in TRAININGS[name][1]:
        start = time.perf_counter()
        scored = dataclasses.replace(settings, scorer=scorer)
        members = [finish_detector(t, scored) for t in trainings]
        tests = []
        for t, m in zip(trainings, members):
            x = torch.from_numpy(t.scaler.transform(x_test))
            tests.append(t.scores("test", x, scorer, m.files.score_options))
        if len(members) > 1:
            test = mean_standardised(tests, combine_members(members, scored, seed).files.standardisation)
        else:
            test = tests[0]
        flags = [
            f
            for t, m in zip(trainings, members)
            for f in (("diverged" if m.diverged else ""), ("collapsed" if t.result.collapsed else ""))
            if f
        ]
        finite = bool(np.isfinite(test).all())
        auroc = float(roc_auc_score(y, test)) if finite else 0.5
        out[f"{name}/{scorer}"] = {
            "auroc": 0.5 if flags or not finite else auroc,
            "auroc_raw": auroc,
            "flags": sorted(set(flags)) + ([] if finite else ["non-finite scores"]),
            "fit_seconds": fit_seconds,
            "score_seconds": time.perf_counter() - start,
            "epochs": [len(t.result.history) for t in trainings],
        }
    return out


def run_task(table: str, seed: int, data_dir: str, out: str) -> str:
    """Every candidate and the 5-NN on one (table, seed); written atomically when all are done."""
    import torch
    from sklearn.metrics import roc_auc_score

    from aecompare.core.io import write_json

    torch.set_num_threads(1)
    x_train, x_val, x_test, y = split(table, seed, data_dir)
    record: dict[str, Any] = {"table": table, "seed": seed, "rows": [len(x_train), len(x_val), len(x_test)]}
    start = time.perf_counter()
    knn = knn_baseline(np.concatenate([x_train, x_val]), x_test)
    record["knn5"] = {"auroc": float(roc_auc_score(y, knn)), "seconds": time.perf_counter() - start}
    record["meta"] = meta_features(np.concatenate([x_train, x_val]))
    record["candidates"] = {}
    for name in TRAININGS:
        record["candidates"].update(run_training(name, x_train, x_val, x_test, y, seed))
    write_json(Path(out) / f"{table}-{seed}.json", record)
    shown = (DEFAULT_CANDIDATE, "ae/mse+latent_knn")
    return f"{table} seed {seed}: knn {record['knn5']['auroc']:.3f}, " + ", ".join(
        f"{k} {v['auroc']:.3f}" for k, v in record["candidates"].items() if k in shown
    )


def run_detector_task(table: str, seed: int, data_dir: str, out: str, model: str = "") -> str:
    """``Detector(random_state=seed)`` with every other parameter at its default (``model="auto"`` when asked),
    fitted on the same normal rows (it makes the same validation split) and scored on the same test set."""
    import torch
    from sklearn.metrics import roc_auc_score

    from aecompare import Detector
    from aecompare.core.io import write_json

    torch.set_num_threads(1)
    x_normal, x_test, y = normal_and_test(table, seed, data_dir)
    start = time.perf_counter()
    det = Detector(**({"model": model} if model else {}), random_state=seed, device="cpu").fit(x_normal)
    auroc = float(roc_auc_score(y, det.decision_function(x_test)))
    record = {"table": table, "seed": seed, "auroc": auroc, "seconds": time.perf_counter() - start}
    record["params"] = {k: v for k, v in det.get_params().items() if k not in ("random_state", "device")}
    if model == "auto":
        record["selection"] = det.selection_
        record["chosen"] = f"{'vae' if det.model_.config.bottleneck == 'gaussian' else 'ae'}/{det.scorer_}"
    write_json(Path(out) / f"{table}-{seed}.{model or 'detector'}.json", record)
    return f"{table} seed {seed}: Detector({model}) {auroc:.4f}"


def load(out: Path, tables: list[str], seeds: list[int]) -> list[dict]:
    """The finished task records."""
    records = []
    for table in tables:
        for seed in seeds:
            f = out / f"{table}-{seed}.json"
            if f.exists():
                records.append(json.loads(f.read_text()))
    return records


def per_table(records: list[dict], key: str) -> dict[str, float]:
    """Mean over seeds of a candidate's AUROC (``key`` "knn5": the baseline's), per table."""
    by_table: dict[str, list[float]] = {}
    for r in records:
        value = r["knn5"]["auroc"] if key == "knn5" else r["candidates"][key]["auroc"]
        by_table.setdefault(r["table"], []).append(value)
    return {t: float(np.mean(v)) for t, v in by_table.items()}


def changed_settings(candidate: str) -> int:
    """How many settings the candidate changes from Detector()'s default (the last tie-break)."""
    training, scorer = candidate.split("/")
    changes = TRAININGS[training][0]
    n = sum(len(v) if k == "model_params" else 1 for k, v in changes.items())
    return n + (scorer != "mse")


def choose(scores: dict[str, float], seconds: dict[str, float]) -> str:
    """The rule: the highest collection score; within TIE of it the least fit time, then fewer changes."""
    best = max(scores.values())
    tied = [c for c in scores if scores[c] >= best - TIE]
    return min(tied, key=lambda c: (seconds[c], changed_settings(c), c))


def leave_one_table_out(table_scores: dict[str, dict[str, float]], meta: dict[str, dict[str, float]], k: int = 3):
    """For each table: the candidate whose mean AUROC is best on the k tables nearest in meta-features (scaled
    on the other 20 tables); the fixed candidate best on the other 20; and the table's own best."""
    tables = sorted(meta)
    names = sorted(next(iter(meta.values())))
    rows = []
    for held in tables:
        others = [t for t in tables if t != held]
        m = np.array([[meta[t][n] for n in names] for t in others])
        centre, spread = m.mean(0), m.std(0)
        spread[spread == 0] = 1.0
        target = (np.array([meta[held][n] for n in names]) - centre) / spread
        distance = np.linalg.norm((m - centre) / spread - target, axis=1)
        near = [others[i] for i in np.argsort(distance)[:k]]
        cands = list(table_scores)
        meta_choice = max(cands, key=lambda c: np.mean([table_scores[c][t] for t in near]))
        fixed_choice = max(cands, key=lambda c: np.mean([table_scores[c][t] for t in others]))
        oracle = max(cands, key=lambda c: table_scores[c][held])
        rows.append(
            {
                "table": held,
                "near": near,
                "meta": (meta_choice, table_scores[meta_choice][held]),
                "fixed": (fixed_choice, table_scores[fixed_choice][held]),
                "oracle": (oracle, table_scores[oracle][held]),
            }
        )
    return rows


def print_detector(out: Path, done: list[str], seeds: list[int], knn_mean: float) -> None:
    """The done-when figure: ``Detector()`` with its defaults (``--detector`` runs), where every task has one."""
    detector = [out / f"{t}-{s}.detector.json" for t in done for s in seeds]
    if all(f.exists() for f in detector):
        fitted = [json.loads(f.read_text()) for f in detector]
        mean = float(np.mean([np.mean([d["auroc"] for d in fitted if d["table"] == t]) for t in done]))
        print(
            f"`Detector()` with its defaults ({fitted[0]['params']}): {mean:.4f} vs 5-NN {knn_mean:.4f} "
            f"({mean - knn_mean:+.4f}; target +0.01), {sum(d['seconds'] for d in fitted):.0f} s in all\n"
        )
        # the report's paired verdict, with the tables as blocks (each the mean over its seeds, as in Demšar 2006)
        knn = per_table(load(out, done, seeds), "knn5")
        values = {
            "Detector()": {t: float(np.mean([d["auroc"] for d in fitted if d["table"] == t])) for t in done},
            "5-NN": knn,
        }
        print(headline(compare(values), "Detector() vs 5-NN", blocks="tables") + "\n")


def print_auto(out: Path, records: list[dict], table_scores: dict[str, dict[str, float]]) -> None:
    """``Detector(model="auto")`` (``--auto`` runs): its mean, and how its label-free choice ranks on test labels."""
    files = [out / f"{r['table']}-{r['seed']}.auto.json" for r in records]
    if not all(f.exists() for f in files):
        return
    runs = [json.loads(f.read_text()) for f in files]
    tables = sorted({r["table"] for r in runs})
    auto = float(np.mean([np.mean([r["auroc"] for r in runs if r["table"] == t]) for t in tables]))
    oracle = float(np.mean([max(v[t] for v in table_scores.values()) for t in tables]))
    own = [f"{m}/{s}" for m, s in AUTO_CANDIDATES_OF_RULE]
    own_best = float(np.mean([max(table_scores[c][t] for c in own) for t in tables]))
    right = 0
    for r in runs:  # was the choice the best of its candidates on this task's test labels?
        task = next(q for q in records if q["table"] == r["table"] and q["seed"] == r["seed"])
        right += max(own, key=lambda c: task["candidates"][c]["auroc"]) == r["chosen"]
    print(
        f'\n`Detector(model="auto")`: {auto:.4f} (default {np.mean(list(table_scores["ae/latent_knn"].values())):.4f}; '
        f"the per-table best of its 4 candidates {own_best:.4f}; of all 23 {oracle:.4f}); its choice was the best of "
        f"its 4 on the test labels in {right} of {len(runs)} runs; {sum(r['seconds'] for r in runs):.0f} s in all"
    )


def print_label_free(table_scores: dict[str, dict[str, float]], meta: dict[str, dict[str, float]]) -> None:
    """The label-free (meta-learned) choice, leave-one-table-out, against the fixed choice and the oracle."""
    if len(meta) < 5:
        print("\n(the leave-one-table-out choice needs at least 5 finished tables)")
        return
    rows = leave_one_table_out(table_scores, meta)
    means = {key: float(np.mean([r[key][1] for r in rows])) for key in ("meta", "fixed", "oracle")}
    print("\nLabel-free choice, leave-one-table-out (3 nearest tables in meta-features):")
    print(
        f"- meta-learned choice {means['meta']:.4f}; best fixed candidate (chosen on the other 20) "
        f"{means['fixed']:.4f}; per-table best (oracle) {means['oracle']:.4f}"
    )
    print(
        f"- gap to the per-table best {means['oracle'] - means['meta']:.4f} (target <= 0.015); "
        f"vs the fixed choice {means['meta'] - means['fixed']:+.4f} (target > 0)"
    )
    print(
        f"- the meta choice equals the table's best on {sum(r['meta'][0] == r['oracle'][0] for r in rows)} of "
        f"{len(rows)} tables"
    )


def summary(out: Path, tables: list[str], seeds: list[int]) -> None:
    """Print the candidate table, the rule's winner against the 5-NN, and the leave-one-table-out choice."""
    records = load(out, tables, seeds)
    done = {r["table"] for r in records if sum(q["table"] == r["table"] for q in records) == len(seeds)}
    records = [r for r in records if r["table"] in done]
    print(f"{len(done)} of {len(tables)} tables with all {len(seeds)} seeds\n")
    if not records:
        return
    cands = candidates()
    table_scores = {c: per_table(records, c) for c in cands}
    knn = per_table(records, "knn5")
    collection = {c: float(np.mean(list(v.values()))) for c, v in table_scores.items()}
    seconds = {c: sum(r["candidates"][c]["fit_seconds"] for r in records) for c in cands}
    flagged = {c: sum(bool(r["candidates"][c]["flags"]) for r in records) for c in cands}
    winner = choose(collection, seconds)
    knn_mean = float(np.mean(list(knn.values())))
    print("| configuration | mean AUROC | vs 5-NN | fit seconds (all tasks) | flagged runs | changes |")
    print("|---|---|---|---|---|---|")
    for c in sorted(cands, key=lambda c: -collection[c]):
        mark = " **(winner)**" if c == winner else (" (today's default)" if c == DEFAULT_CANDIDATE else "")
        print(
            f"| `{c}`{mark} | {collection[c]:.4f} | {collection[c] - knn_mean:+.4f} | {seconds[c]:.0f} | "
            f"{flagged[c]} | {changed_settings(c)} |"
        )
    print(f"| 5-NN (baseline) | {knn_mean:.4f} | | | | |\n")
    print(
        f"Winner by the rule: `{winner}` {collection[winner]:.4f} vs 5-NN {knn_mean:.4f} "
        f"({collection[winner] - knn_mean:+.4f}; target +0.01)\n"
    )
    print_detector(out, sorted(done), seeds, knn_mean)
    shown = [DEFAULT_CANDIDATE, winner, "ae/mse+latent_knn", "ae/latent_knn"]
    shown = list(dict.fromkeys(shown))
    print("| table | 5-NN | " + " | ".join(f"`{c}`" for c in shown) + " | best candidate |")
    print("|---|" + "---|" * (len(shown) + 2))
    for t in sorted(knn):
        best = max(cands, key=lambda c: table_scores[c][t])
        print(
            f"| {t} | {knn[t]:.3f} | "
            + " | ".join(f"{table_scores[c][t]:.3f}" for c in shown)
            + f" | `{best}` {table_scores[best][t]:.3f} |"
        )
    print_auto(out, records, table_scores)
    print_label_free(table_scores, {r["table"]: r["meta"] for r in records if r["seed"] == seeds[0]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench-runs/tuning")
    parser.add_argument("--data-dir", default=os.environ.get("AECOMPARE_DATA", "../shared/datasets"))
    parser.add_argument("--tables", nargs="*", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--detector", action="store_true", help="fit Detector() with its defaults instead")
    parser.add_argument("--auto", action="store_true", help="fit Detector(model='auto') instead")
    args = parser.parse_args()
    out = Path(args.out)
    if args.summary:
        summary(out, args.tables, args.seeds)
        return
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".auto.json" if args.auto else ".detector.json" if args.detector else ".json"
    todo = [(t, s) for t in args.tables for s in args.seeds if not (out / f"{t}-{s}{suffix}").exists()]
    sizes = {t: (Path(args.data_dir) / TABLES[t]).stat().st_size for t in args.tables}
    todo.sort(key=lambda task: -sizes[task[0]])  # the large tables first: the workers finish together
    print(f"{dt.date.today()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores: {len(todo)} tasks")
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        task, extra = (
            (run_detector_task, ("auto",))
            if args.auto
            else (run_detector_task, ())
            if args.detector
            else (run_task, ())
        )
        futures = [pool.submit(task, t, s, args.data_dir, str(out), *extra) for t, s in todo]
        for f in as_completed(futures):
            print(f"[{time.perf_counter() - start:.0f} s] {f.result()}", flush=True)
    summary(out, args.tables, args.seeds)


if __name__ == "__main__":
    main()
