"""The ``aecompare`` command line: thin over the library."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from aecompare.errors import AecompareError, ConfigError
from aecompare.version import __version__

DEBUG_ENV = "AECOMPARE_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``aecompare``."""
    parser = argparse.ArgumentParser(
        prog="aecompare",
        description=(
            "Train classical, variational and adversarial autoencoders on normal data and compare how well "
            "they detect anomalies."
        ),
    )
    parser.add_argument("--version", action="version", version=f"aecompare {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the full traceback of an error (or set {DEBUG_ENV}=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parsers(sub)
    _add_tables_parser(sub)
    _add_other_parsers(sub)
    return parser


def _add_run_parsers(sub: argparse._SubParsersAction) -> None:
    """``run`` and ``images``: the commands that train a grid."""
    run = sub.add_parser("run", help="run an experiment and write its report")
    run.add_argument(
        "experiment",
        nargs="?",
        default="quick",
        help="a shipped experiment's name (see 'aecompare list') or a YAML file; default: quick",
    )
    _add_grid_arguments(
        run,
        "a spec value, e.g. --set train.epochs=5",
        "the spec's",
        "folder of file-based datasets (default: $AECOMPARE_DATA)",
    )

    images = sub.add_parser(
        "images", help="compare CAE and CVAE on your own folder of product images (castings or MVTec AD layout)"
    )
    images.add_argument(
        "--images",
        required=True,
        help="a folder with train/<good>/ and test/<class>/ subfolders (as given, or relative to the data directory)",
    )
    _add_grid_arguments(
        images,
        "a value of the images experiment, e.g. --set datasets.0.params.size=128",
        "seed 42",
        "folder of datasets, for --images given relative to it",
    )


def _add_grid_arguments(parser: argparse.ArgumentParser, what: str, seeds: str, data_dir: str) -> None:
    """The options every command that runs a grid takes (run, images, tables)."""
    parser.add_argument("--output", "-o", default="runs", help="output folder (default: runs)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what} (repeatable)",
    )
    parser.add_argument("--seeds", type=int, help=f"run seeds 0..N-1 instead of {seeds}")
    parser.add_argument("--data-dir", help=data_dir)
    parser.add_argument("--workers", type=int, help="processes running runs side by side (default: one per core)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="retrain finished runs whose settings differ from the ones asked for (the others are kept)",
    )
    parser.add_argument("--yes", action="store_true", help="run a grid of more than 2000 runs without asking")
    parser.add_argument(
        "--select",
        action="store_true",
        help="recommend a model and score without anomaly labels: rank the models on synthetic "
        "anomalies made from normal validation data (evaluation.select=synthetic)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or log lines")
    _add_scale_arguments(parser)


def _add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """Where runs execute: the device, the local pool or a Ray cluster."""
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the spec's, auto = CUDA when present)")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes (default) or Ray tasks (pip install 'aecompare[ray]')",
    )
    parser.add_argument(
        "--address", help="ray: 'auto' or ray://host:10001 to join a cluster (default: start a local instance)"
    )
    parser.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs each run asks for (default 1)")
    parser.add_argument(
        "--gpus-per-run",
        type=float,
        default=0.0,
        help="ray: GPUs each run asks for; fractions share a GPU, e.g. 0.25 (default 0)",
    )
    parser.add_argument(
        "--runs-per-gpu", type=int, help="local with CUDA: runs side by side on each GPU (default: from free memory)"
    )


def _add_tables_parser(sub: argparse._SubParsersAction) -> None:
    """``tables``: the comparison on a user's table, without a YAML file."""
    tables = sub.add_parser(
        "tables",
        help="compare AE, VAE (error and reconstruction probability) and AAE on your own CSV, NPZ or MAT table",
    )
    tables.add_argument(
        "--table",
        required=True,
        help="a CSV with a header (or NPZ/MAT with X, y): as given, or relative to the data directory",
    )
    tables.add_argument("--label", default="label", help="the CSV's 0/1 label column (default: label)")
    _add_grid_arguments(
        tables,
        "a value of the tables experiment, e.g. --set train.epochs=30",
        "3",
        "folder of datasets, for --table given relative to it",
    )


def _add_other_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that read runs, generate, or manage data."""
    sub.add_parser("list", help="list shipped experiments, models and datasets")

    report = sub.add_parser("report", help="(re)write the report of an experiment folder")
    report.add_argument("folder", help="an experiment folder, e.g. runs/quick")
    report.add_argument("--quiet", "-q", action="store_true", help="no log lines")

    inspect = sub.add_parser("inspect", help="look inside a trained model: bottleneck sweep, weights, codes")
    inspect.add_argument("run", help="a run folder, e.g. runs/patuzzo-lines/lines/A1/normal-line/seed-0")
    inspect.add_argument("--output", "-o", help="folder for the figures (default: RUN/inspect)")
    inspect.add_argument("--quiet", "-q", action="store_true", help="no log lines")

    scorer = sub.add_parser("score", help="score new images or table rows with a finished run (or a saved Detector)")
    scorer.add_argument("run", help="a run folder, e.g. runs/quick/digits/ae/normal-0/seed-0")
    source = scorer.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="a folder of image files (searched recursively)")
    source.add_argument("--table", help="a CSV, NPZ or MAT table with the run's feature columns")
    scorer.add_argument(
        "--label",
        default="label",
        help="the table's label column, left out of the features when present (default: label)",
    )
    scorer.add_argument("--output", "-o", help="write the scores to this CSV (default: print them)")
    scorer.add_argument("--data-dir", help="folder of datasets, for --images/--table given relative to it")
    scorer.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the CPU)")
    scorer.add_argument("--quiet", "-q", action="store_true", help="no log lines")

    export = sub.add_parser("export", help="export a finished run (or a saved Detector) as an ONNX scoring graph")
    export.add_argument("run", help="a run folder or a folder written by Detector.save")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="the format (onnx)")
    export.add_argument("--output", "-o", help="the file to write (default: RUN/model.onnx)")
    export.add_argument("--bytes-input", action="store_true", help="the graph takes uint8 pixels 0-255")
    export.add_argument("--quiet", "-q", action="store_true", help="no log lines")

    _add_generate_parser(sub)
    _add_data_parser(sub)


def _add_generate_parser(sub: argparse._SubParsersAction) -> None:
    """``aecompare generate``: Fiorino's face VAE on a folder of images."""
    generate = sub.add_parser(
        "generate",
        help="train a VAE on a folder of images; write samples from the prior, "
        "reconstructions and a latent interpolation",
    )
    generate.add_argument(
        "--images", required=True, help="a folder of image files (any size: centre-cropped and resized to image_size)"
    )
    generate.add_argument(
        "--output",
        "-o",
        help="folder for the model, figures and report (default: runs/generate/<the image folder's name>, so "
        "other folders keep theirs); an interrupted run resumes from its checkpoint there",
    )
    generate.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of the fiorino-faces study, e.g. --set image_size=64 "
        "--set train.epochs=20 --set model.latent_dim=64 (repeatable)",
    )
    generate.add_argument("--data-dir", help="folder of datasets, for --images given relative to it")
    generate.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: auto)")
    generate.add_argument("--quiet", "-q", action="store_true", help="no progress bar or log lines")


def _add_data_parser(sub: argparse._SubParsersAction) -> None:
    """``aecompare data``: manage the data directory."""
    data = sub.add_parser("data", help="manage the data directory")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = data_sub.add_parser("download", help="download a dataset's original files and verify their checksums")
    fetch.add_argument("name", help="mnist, fashion-mnist or cifar10")
    fetch.add_argument("--data-dir", help="the data directory (default: $AECOMPARE_DATA, else ~/.aecompare/data)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a bug in aecompare, 2 bad input or environment, 130
    interrupted). Errors are one line on standard error; ``--debug`` adds the traceback."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        print("aecompare: error: name a command, e.g. 'aecompare run' (see 'aecompare --help')", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO, format="%(message)s", force=True
    )
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if args.command in ("run", "generate"):
        from aecompare.train.distributed import init_from_environment

        if init_from_environment() and int(os.environ.get("RANK", "0")) > 0:
            logging.getLogger().setLevel(logging.ERROR)  # under torchrun the first process tells
    commands = {
        "run": _run,
        "list": _list,
        "report": _report,
        "inspect": _inspect,
        "images": _images,
        "generate": _generate,
        "data": _data,
        "score": _score,
        "export": _export,
        "tables": _tables,
    }
    try:
        # a warning or log line is one line on standard error, as errors are, written above a progress bar
        with warnings.catch_warnings(), logging_redirect_tqdm():
            warnings.showwarning = _show_warning
            return commands[args.command](args)
    except KeyboardInterrupt:
        print("aecompare: interrupted; finished runs are kept, run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # the CLI boundary: one line with a hint, the traceback only on request
        if debug:
            traceback.print_exc()
        message, code = describe_error(e)
        print(f"aecompare: error: {message}", file=sys.stderr)
        return code


def _show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    tqdm.write(f"aecompare: warning: {message}", file=sys.stderr)


def describe_error(error: BaseException) -> tuple[str, int]:
    """One line for an error that reached the command line, and the exit status: 2 for bad input and the
    environment (a full disk, a path that is a file, no permission), 1 for a bug in aecompare."""
    if isinstance(error, AecompareError):
        return str(error), 2
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        hint = OS_HINTS.get(error.errno, "check the path and its permissions")
        return f"{error.strerror or error}{where}: {hint}", 2
    return (
        f"{type(error).__name__}: {error} (a bug in aecompare; rerun with --debug for the traceback and report it)",
        1,
    )


OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space or pass another --output, then run the same command to resume",
    errno.EDQUOT: "the disk quota is used up; free space or pass another --output",
    errno.EACCES: "no permission to write there; pass another --output or change the folder's permissions",
    errno.EPERM: "no permission to write there; pass another --output",
    errno.EROFS: "the file system is read-only; pass another --output",
    errno.ENOTDIR: "a path component is a file, not a folder; pass another --output",
    errno.EEXIST: "a file is in the way of a folder; pass another --output",
    errno.EISDIR: "a folder is where a file was expected",
    errno.ENOENT: "no such file or folder",
}


def _run(args: argparse.Namespace) -> int:
    from aecompare.studies.registry import study_of_spec

    _check_counts(args)
    study = study_of_spec(args.experiment)
    if args.select and study.name != "grid":
        raise ConfigError(f"--select ranks the models of a comparison; {args.experiment} is a {study.name} study")
    device = _flag_overrides(args) if study.name != "convergence" else []  # the batched study runs on the CPU
    spec = study.load(args.experiment, [*args.overrides, *device], args.seeds)
    if study.name == "grid":
        return _run_grid(spec, args)
    return _write_and_print_report(study.run(spec, _run_options(args)), args)


def _run_options(args: argparse.Namespace):
    from aecompare.runs.executors import ExecutorOptions
    from aecompare.studies.registry import RunOptions

    executor = ExecutorOptions(
        kind=getattr(args, "executor", "local"),
        address=getattr(args, "address", None),
        cpus_per_run=getattr(args, "cpus_per_run", 1.0),
        gpus_per_run=getattr(args, "gpus_per_run", 0.0),
        runs_per_gpu=getattr(args, "runs_per_gpu", None),
    )
    return RunOptions(
        output=Path(args.output),
        data_dir=getattr(args, "data_dir", None),
        progress=None if not args.quiet else False,
        workers=getattr(args, "workers", None),
        force=getattr(args, "force", False),
        yes=getattr(args, "yes", False),
        executor=executor,
    )


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    """``--device X`` as the spec override ``train.device=X``, and ``--select`` as ``evaluation.select=synthetic``
    (none without the options)."""
    return ([f"train.device={args.device}"] if getattr(args, "device", None) else []) + (
        ["evaluation.select=synthetic"] if getattr(args, "select", False) else []
    )


def _check_counts(args: argparse.Namespace) -> None:
    from aecompare.core.validation import check_int

    for flag in ("seeds", "workers"):
        if getattr(args, flag, None) is not None:
            check_int(getattr(args, flag), f"--{flag}")


def _write_and_print_report(folder: Path, args: argparse.Namespace, lines: Sequence[str] = ()) -> int:
    """Write the report of ``folder``; print ``lines`` and the Markdown path unless quiet, and the HTML path
    last (for scripts)."""
    from aecompare.studies.registry import write_report
    from aecompare.train.distributed import is_main

    if not is_main():  # under torchrun, the first process reports
        return 0
    html = write_report(folder)
    if not args.quiet:
        for line in lines:
            print(line)
        print(f"report (Markdown): {folder / 'report.md'}")
    print(html)
    return 0


def _run_grid(spec, args: argparse.Namespace, output: Path | None = None) -> int:
    """Run a grid experiment under ``output`` (default: ``--output``), write its report, print a summary and
    the report's path (last)."""
    import dataclasses

    from aecompare.studies.registry import STUDIES
    from aecompare.train.distributed import is_main

    options = _run_options(args)
    if output is not None:
        options = dataclasses.replace(options, output=output)
    folder = STUDIES["grid"].run(spec, options)
    if is_main():
        failed = _failed_line(folder)
        if failed:  # said even with -q: a result that is not what was asked for is never silent
            print(f"aecompare: warning: {failed}", file=sys.stderr)
        if not args.quiet:
            _print_summary(folder, [m.label for m in spec.models])
    return _write_and_print_report(folder, args, [f"results: {folder / 'results.csv'}"])


def _print_summary(folder: Path, model_order: list[str]) -> None:
    """Each dataset's mean AUROC per model, the verdict in one line, and the label-free recommendations (the
    failed runs' line is :func:`_failed_line`, said even with -q)."""
    from collections import defaultdict

    import numpy as np

    from aecompare.report.verdict import short
    from aecompare.studies.grid.results import collect_results
    from aecompare.studies.grid.verdicts import grid_verdicts

    rows = collect_results(folder)
    pooled = [r for r in rows if r.group == "all"]
    cells: dict[tuple[str, str], list[float]] = defaultdict(list)
    failed: dict[tuple[str, str], int] = defaultdict(int)
    for r in pooled:
        if r.diverged:
            failed[(r.dataset, r.model)] += 1
        else:
            cells[(r.dataset, r.model)].append(r.auroc)
    keys = sorted(
        {*cells, *failed}, key=lambda k: (k[0], model_order.index(k[1]) if k[1] in model_order else len(model_order))
    )
    wide = [max((len(k[i]) for k in keys), default=0) for i in (0, 1)]
    for key in keys:
        values, note = cells[key], f", {failed[key]} diverged run(s) left out" if failed[key] else ""
        mean = f"{np.mean(values):.3f}" if values else "–"
        print(f"{key[0]:>{wide[0]}} {key[1]:>{wide[1]}}  mean AUROC {mean} over {len(values)} runs{note}")
    verdicts = grid_verdicts(rows, model_order)
    if verdicts:
        print("verdict: " + "; ".join(f"{name}: {short(v)}" for name, v in verdicts.items()))
    _print_recommendations(rows, model_order)


def _failed_line(folder: Path) -> str:
    """One line for the runs that diverged (left out) or collapsed (kept), or none when every run is sound."""
    from aecompare.studies.grid.results import collect_results

    pooled = [r for r in collect_results(folder) if r.group == "all"]
    parts = []
    for what, runs in (
        ("diverged (left out)", [r for r in pooled if r.diverged]),
        ("collapsed (kept)", [r for r in pooled if r.collapsed and not r.diverged]),
    ):
        if runs:  # a few are named; many are counted
            names = f": {', '.join(f'{r.dataset} / {r.model} / {r.normal} / seed {r.seed}' for r in runs)}"
            parts.append(f"{len(runs)} {what}{names if len(runs) <= 3 else ''}")
    return f"of {len(pooled)} runs {'; '.join(parts)}. See the report's 'Runs that failed'" if parts else ""


def _print_recommendations(rows: list, model_order: list[str]) -> None:
    """The label-free recommendation per dataset (most often recommended over its normal-class choices)."""
    from collections import Counter

    from aecompare.studies.grid.selection import recommendations, weak_lead

    chosen = recommendations(rows, model_order)
    for dataset in dict.fromkeys(c["dataset"] for c in chosen):
        mine = [c for c in chosen if c["dataset"] == dataset]
        label, n = Counter(c["recommended"] for c in mine).most_common(1)[0]
        ranks = [c["rank"] for c in mine if c["rank"] is not None]
        rank = f"; rank on the real anomalies {sum(ranks) / len(ranks):.1f} of {mine[0]['candidates']}" if ranks else ""
        weak = sum(map(weak_lead, mine))
        weak_note = f"; in {weak}, a lead within the seeds' spread: see the report" if weak else ""
        print(
            f"recommended without labels for {dataset}: {label} ({n} of {len(mine)} normal-class choices"
            f"{rank}{weak_note})"
        )


def _list(args: argparse.Namespace) -> int:
    from aecompare.data import SOURCES
    from aecompare.models import MODELS
    from aecompare.studies.specfile import builtin_specs, read_spec_mapping

    sections = {
        "experiments": {n: str(read_spec_mapping(n, ("name",))[0].get("description", "")) for n in builtin_specs()},
        "models": {n: e.description for n, e in MODELS.items()},
        "datasets": {n: (fn.__doc__ or "").strip() for n, fn in SOURCES.items()},
    }
    width = max(len(n) for names in sections.values() for n in names)
    for title, entries in sections.items():
        print(f"{title}:")
        for name in sorted(entries):
            print(f"  {name:<{width}}  {_first_sentence(entries[name])}")
    return 0


def _first_sentence(text: str, most: int = 100) -> str:
    """A description's first sentence on one line, cut to ``most`` characters."""
    line = " ".join(text.replace("``", "").split())
    sentence = re.split(r"(?<!\bal)(?<!e\.g)(?<!i\.e)\.\s", line)[0].rstrip(".")  # "et al." ends none
    return sentence if len(sentence) <= most else sentence[: most - 1].rstrip() + "…"


def _report(args: argparse.Namespace) -> int:
    from aecompare.studies.registry import write_report

    folder = Path(args.folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass an experiment folder such as runs/quick")
    print(write_report(folder))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from aecompare.report.figures import write_inspection_figures
    from aecompare.runs.folder import load_run_model

    run = Path(args.run)
    model, codes = load_run_model(run)
    for caption, path in write_inspection_figures(model, codes, Path(args.output) if args.output else run / "inspect"):
        print(f"{path}  ({caption})")
    return 0


def _images(args: argparse.Namespace) -> int:
    from aecompare.studies.grid.spec import load_spec

    _check_counts(args)
    from aecompare.data.dataset import locate

    folder = locate(args.images, args.data_dir).resolve()
    device = _flag_overrides(args)
    spec = load_spec("images", [*args.overrides, f"datasets.0.params.path={folder}", *device], args.seeds)
    return _run_grid(_named_after(spec, folder.name, "image folder"), args, Path(args.output) / "images")


def _tables(args: argparse.Namespace) -> int:
    from aecompare.data.dataset import locate
    from aecompare.studies.grid.spec import load_spec

    _check_counts(args)
    table = locate(args.table, args.data_dir).resolve()
    device = _flag_overrides(args)
    overrides = [
        *args.overrides,
        f"datasets.0.params.path={table}",
        f"datasets.0.params.label={args.label}",
        *device,
    ]
    return _run_grid(
        _named_after(load_spec("tables", overrides, args.seeds), table.stem, "table"),
        args,
        Path(args.output) / "tables",
    )


def _named_after(spec, name: str, what: str):
    """``spec`` and its one dataset named after the input, so that runs on other inputs get folders of their own
    (``runs/tables/<stem>/<stem>/...``, ``runs/images/<folder>/<folder>/...``) and the report names the input."""
    import dataclasses

    from aecompare.core.io import safe_name

    name = safe_name(name, f"{what} name")
    dataset = dataclasses.replace(spec.datasets[0], label=name)
    return dataclasses.replace(spec, name=name, datasets=(dataset, *spec.datasets[1:]))


def _generate(args: argparse.Namespace) -> int:
    from aecompare.studies.generation.run import run_generation
    from aecompare.studies.generation.spec import load_generation_spec

    device = _flag_overrides(args)
    spec = load_generation_spec("fiorino-faces", [*args.overrides, f"images={args.images}", *device])
    output = Path(args.output) if args.output else Path("runs") / "generate" / _input_name(args.images)
    folder = run_generation(spec, output, data_dir=args.data_dir, progress=None if not args.quiet else False)
    return _write_and_print_report(
        folder,
        args,
        [f"{name}: {folder / 'figures' / f'{name}.png'}" for name in ("samples", "reconstructions", "interpolation")],
    )


def _input_name(path: str) -> str:
    """An input folder's name as one safe folder name (``.`` is the current folder's name)."""
    from aecompare.core.io import safe_name

    return safe_name(Path(path).resolve().name or "input", "image folder name")


def _score(args: argparse.Namespace) -> int:
    from aecompare.new_data import score_new_data

    written = score_new_data(
        args.run,
        images=args.images,
        table=args.table,
        label=args.label,
        output=args.output,
        data_dir=args.data_dir,
        device=args.device,
    )
    if args.output is None:
        sys.stdout.write(written)
    else:
        print(args.output)
    return 0


def _export(args: argparse.Namespace) -> int:
    from aecompare.detector import Detector

    output = Path(args.output) if args.output else Path(args.run) / "model.onnx"
    print(Detector.load(args.run).to_onnx(output, bytes_input=args.bytes_input))
    return 0


def _data(args: argparse.Namespace) -> int:
    from aecompare.data.download import download

    print(download(args.name, args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
