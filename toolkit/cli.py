"""The `xrbench` command: a thin layer over library calls a notebook can make too.

Progress and notes go to stderr through `logging` (configured here, plain "message" lines;
a progress bar only on a terminal); tables (or, with --json, JSON) go to stdout, wrapped to
the terminal's width where a column holds long text, so other tools can read the output.
Errors print one line naming the bad value and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path

from toolkit import __version__
from toolkit.harness.evaluate import WHOLE_SET
from toolkit.progress import configure_logging
from toolkit.table import format_table, terminal_width

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  xrbench run                                   # mnist, lr,dt,rf,svm,lenet5, every runtime here
  xrbench run --dataset digits --models lr,lenet5 --epochs 3
  xrbench eval runs/<run>/models/lenet5.onnx --dataset mnist --runtime ort-cpu
  xrbench datasets                              # what is known, where it was found
  xrbench models; xrbench runtimes

Datasets are looked for in --data-dir, $XRBENCH_DATA, the repo's datasets/, ~/.cache/xrbench
and /usr/share/datasets/<name>, and downloaded (checksum-verified) if absent.
"""


#: Flags `run --resume` accepts besides RUN_DIR: they change neither what is trained nor how
#: it is measured, so the manifest's settings stay the whole story of the run.
RESUME_FLAGS = ("--json", "--no-download")
#: ... and where the trainings run, which changes no result either.
RESUME_WHERE_FLAGS = ("--cluster",)


def _number(convert, accepts, description: str):
    """An argparse type that converts and range-checks, naming the value when it refuses."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepts(value):
            raise argparse.ArgumentTypeError(f"must be {description}; got {text!r}")
        return value

    parse.__name__ = description  # argparse names the type in some messages
    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_percent = _number(float, lambda v: 0 <= v < 1000 and v == v, "a number of percent in [0, 1000)")


def _names(text: str, what: str) -> list[str]:
    """The comma-separated names of ``text``; a list with none (",", "") is refused."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"must name at least one {what}; got {text!r}")
    return names


def _run_name(text: str) -> str:
    from toolkit.results import check_run_name

    try:
        return check_run_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _batch_sizes(text: str) -> list[int | str]:
    sizes: list[int | str] = []
    for part in _names(text, "batch size"):
        if part == WHOLE_SET:
            sizes.append(WHOLE_SET)
            continue
        try:
            sizes.append(_positive_int(part))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"must be positive integers or '{WHOLE_SET}', comma-separated; "
                f"got {part!r} in {text!r}"
            ) from None
    return sizes


def _runtime_list(text: str) -> list[str]:
    from toolkit.harness import get_runtime

    names = _names(text, "runtime")
    for name in names:
        try:
            get_runtime(name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return names


def _onnx_runtime_list(text: str) -> list[str]:
    """Runtimes that open an ONNX file; a native one (sklearn, torch-cpu) needs the trained
    model, which a plain ONNX file does not carry, so `eval` refuses it here."""
    from toolkit.harness import get_runtime, list_runtimes

    names = _runtime_list(text)
    onnx = [n for n in list_runtimes() if get_runtime(n).kind == "onnx"]
    for name in names:
        if name not in onnx:
            raise argparse.ArgumentTypeError(
                f"{name!r} is a native runtime (it runs the trained model, not an ONNX file); "
                f"an ONNX file runs on: {', '.join(onnx)}"
            )
    return names


def _model_list(text: str) -> list[str]:
    from toolkit.models import parse_model_list

    try:
        return parse_model_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _precision_list(text: str) -> list[str]:
    from exporters.quantize import QUANTIZERS

    if text.strip() == "none":
        return []
    names = _names(text, "precision (or 'none')")
    for name in names:
        try:
            QUANTIZERS.get(name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return names


def _train_options(text: str) -> dict:
    """``--train KEY=VALUE,...``: converted and checked by TrainConfig's constraints, through
    the one converter that model knobs use (toolkit.options)."""
    from toolkit.engine import TrainConfig

    try:
        return TrainConfig.parse_options(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        default="mnist",
        help="mnist, fashion-mnist, kmnist, digits, cifar-10, retinamnist or folder:PATH "
        "(default: mnist)",
    )
    parser.add_argument(
        "--data-dir", help="folder searched first for dataset files (also $XRBENCH_DATA)"
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        help="side length images of a folder: dataset are resized to (default 32)",
    )
    parser.add_argument(
        "--test-per-class",
        type=_positive_int,
        help="evaluate on a balanced subset of the test set, N images per class",
    )
    parser.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading missing files"
    )


def _add_timing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        default=[1, 32, 256, WHOLE_SET],
        help="batch sizes to time, 'all' = whole test set (default: 1,32,256,all)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        help="intra-op threads for every runtime (default: all usable cores)",
    )
    parser.add_argument(
        "--budget",
        type=_positive_float,
        default=0.2,
        help="minimum seconds of timed calls per batch size and round, after warm-up "
        "(default: 0.2)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=5,
        help="independent timing rounds per model x runtime x batch size; intervals come from "
        "the spread between rounds (default: 5)",
    )
    parser.add_argument(
        "--arena",
        choices=("on", "off"),
        default="on",
        help="onnxruntime's CPU memory arena for every session (default: on)",
    )
    parser.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of every random step, an integer >= 0 (default: 0)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of `run` (also parsed again by --resume to see which were given)."""
    _add_data_options(parser)
    parser.add_argument(
        "--models",
        type=_model_list,
        default=None,
        help="comma-separated model names or 'all' "
        "(default: lr,dt,rf,svm,lenet5; see `xrbench models`)",
    )
    parser.add_argument(
        "--runtimes",
        type=_runtime_list,
        default=None,
        help="comma-separated runtimes (default: every one available here, plus native baselines)",
    )
    parser.add_argument(
        "--train-per-class",
        type=_positive_int,
        help="train on a balanced subset, N images per class (default: all)",
    )
    parser.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="share of the training set held out for validation (default: 0.1)",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, help="epochs for the PyTorch models (default: per model)"
    )
    parser.add_argument(
        "--train",
        type=_train_options,
        default=None,
        metavar="KEY=VALUE,...",
        help="training options of the PyTorch models, e.g. optimizer=sgd,lr=0.1,schedule=step,"
        "l1=1e-5,weight_decay=1e-4,patience=3 (optimizers: sgd, momentum, nesterov, adagrad, "
        "rmsprop, adam, adamw; schedules: none, step, multistep, exponential, cosine, plateau)",
    )
    parser.add_argument(
        "--out", default="runs", help="folder that holds run folders (default: runs)"
    )
    parser.add_argument(
        "--name",
        type=_run_name,
        help="name of the run folder, made inside --out (default: <UTC time>-<host>)",
    )
    parser.add_argument(
        "--precisions",
        type=_precision_list,
        default=None,
        help="lower-precision copies of each PyTorch model, evaluated as models of their own: "
        "int8-dynamic, int8-static, fp16, or 'none' (default: int8-dynamic,int8-static)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="complete an interrupted run with the settings of its manifest, skipping finished "
        f"models; the manifest wins, so only {', '.join(RESUME_FLAGS)} may be given with it "
        f"(and {', '.join(RESUME_WHERE_FLAGS)}, which says where the trainings run)",
    )
    parser.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        help="worker processes the rounds are spread over, one timing at a time (round r runs "
        "in worker r mod N); 0 times in this process (default: $XRBENCH_WORKERS, else 5: a "
        "process per round)",
    )
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="local:N|tcp://HOST:PORT",
        help="train, export and check each model as a Dask task there (N local worker "
        "processes, or a running `dask scheduler`); every model is then measured and timed "
        "here, after all trainings are back (default: $XRBENCH_CLUSTER, else this process)",
    )
    _add_timing_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="xrbench",
        description="Train MNIST-family classifiers, export them to ONNX and measure every file "
        "with one onnxruntime harness, next to the native scikit-learn/PyTorch models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xrbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="train, export and evaluate models into a new run folder",
        description="Train each model, export it to ONNX (checked for parity with the "
        "native model), evaluate every file on each runtime and write runs/<time>-<host>/.",
    )
    _add_run_options(run)

    ev = sub.add_parser(
        "eval",
        help="evaluate one ONNX file (any that follows the contract)",
        description="Evaluate a contract-following ONNX file on a dataset's test set: "
        "accuracy with 95%% CI, macro precision/recall/F1, latency. Needs only numpy and "
        "onnxruntime.",
    )
    ev.add_argument("model", type=Path, help="the .onnx file")
    _add_data_options(ev)
    ev.add_argument(
        "--runtime",
        type=_onnx_runtime_list,
        default=["ort-cpu"],
        help="comma-separated ONNX runtimes (default: ort-cpu)",
    )
    _add_timing_options(ev)
    _add_load_parser(sub)
    _add_fleet_parser(sub)

    models = sub.add_parser(
        "models",
        help="list the model zoo",
        description="List the model zoo. A variant is NAME:KNOB=VALUE,... e.g. "
        "cnn:stages=2,width=16,dropout=0.1/0.2/0.5 (a '/'-list gives one value per layer).",
    )
    models.add_argument("--knobs", action="store_true", help="also list each model's knobs")
    cmp_ = sub.add_parser(
        "compare",
        help="set runs side by side (machines, runtimes, thread counts) as latency ratios",
        description="Compare every later run with the first: the ratio of median latencies "
        "(later/first) for each model x runtime x batch size in both, with a 95%% interval "
        "from the spread between each run's timing rounds, and test accuracy in points. A row "
        "is 'faster' or 'slower' only when its interval excludes 1 and the change exceeds "
        "--min-effect; otherwise 'no difference'. With --fail-slower or --fail-accuracy the "
        "exit code is 1 when a row fails the gate (for CI).",
    )
    cmp_.add_argument(
        "runs", nargs="+", type=Path, help="two or more run folders; the first is the base"
    )
    cmp_.add_argument(
        "--min-effect",
        type=_percent,
        default=5.0,
        metavar="PCT",
        help="smallest change in percent called a difference (default: 5)",
    )
    cmp_.add_argument(
        "--fail-slower",
        type=_percent,
        metavar="PCT",
        help="exit 1 when a row is 'slower' by more than PCT percent",
    )
    cmp_.add_argument(
        "--fail-accuracy",
        type=_percent,
        metavar="POINTS",
        help="exit 1 when a model's test accuracy dropped by more than POINTS percentage points",
    )
    cmp_.add_argument("--json", action="store_true", help="print the comparison as JSON")
    adv = sub.add_parser(
        "advise",
        help="which runtime and batch size to use per model, from a run's measurements",
        description="For each model of a run: the fastest runtime at batch 1, the runtime and "
        "batch size with the highest throughput, node placement, and the nets' share of the "
        "machine's matrix-multiply peak. --sweep also times onnxruntime session options.",
    )
    adv.add_argument("run", type=Path, help="a run folder")
    adv.add_argument(
        "--sweep",
        action="store_true",
        help="time intra-op threads (1, 2, all) x graph optimisation levels on ort-cpu",
    )
    adv.add_argument(
        "--models", help="comma-separated model file stems for the sweep (default: all)"
    )
    adv.add_argument("--json", action="store_true", help="print the advice as JSON")
    adv.add_argument(
        "--plot",
        action="store_true",
        help="also draw figures/pareto_ort-cpu_bs1.png (accuracy vs latency)",
    )
    exp = sub.add_parser(
        "export",
        help="re-export a model of a run from its saved weights, without retraining",
        description="Rebuild the trained model from <model>.safetensors or <model>.skops beside "
        "an xrbench ONNX file and export it again (e.g. after an exporter or opset change).",
    )
    exp.add_argument("model", type=Path, help="an ONNX file written by `xrbench run`")
    exp.add_argument("--out", type=Path, required=True, help="where to write the new ONNX file")
    sub.add_parser("runtimes", help="list runtimes and whether each can run here")
    _add_app_parsers(sub)
    _add_study_parsers(sub)
    ds = sub.add_parser(
        "datasets", help="list datasets, where they were found, how to get missing ones"
    )
    ds.add_argument("--data-dir", help="folder searched first for dataset files")
    return parser


LOAD_DESCRIPTION = """\
Drive one contract-following ONNX file with MLPerf Inference's scenarios, one test image
(batch 1) per query:
  single-stream  one query at a time, the next when the previous completes; result: p90
                 latency (MLPerf's), with p50 and p99
  offline        every query available at once; result: queries per second
  server         Poisson arrivals at --qps per second from numpy.random.default_rng(--seed);
                 latency runs from each query's scheduled arrival, so queueing counts
Rules, as loadgen's: a run lasts at least --duration seconds (default 10, loadgen's
min_duration) and issues at least --min-queries queries (default 100, loadgen's
min_query_count and the fewest a p99 is taken from), and stops at --max-duration (default
6 x --duration). A server run is VALID only when, besides, its p99 latency (numpy's
interpolated 99th percentile of all its queries) is at most --p99-ms (default 10, the
server bound of mlperf.conf); it stops early, INVALID, once the p99 can no longer meet it.
An INVALID run says why. --find-peak doubles (or halves) the QPS until the verdict flips,
then bisects, at most --max-trials full runs, and reports the highest VALID QPS.
--concurrency C runs C caller threads on one session (InferenceSession.run is thread-safe).
A file in a run folder (RUN/models/x.onnx) gets RUN/load/<model>-<runtime>-<scenario>.json,
RUN/load/latency_vs_load.png and the report's "Load scenarios" section.
Exit status: 0 VALID, 1 INVALID (with --find-peak: no VALID QPS), 2 bad input.
"""

#: LoadSettings' parameters by the flags of `xrbench load`, so its errors name the flag.
LOAD_FLAGS = {
    "qps": "--qps",
    "p99_ms": "--p99-ms",
    "min_duration_s": "--duration",
    "max_duration_s": "--max-duration",
    "min_queries": "--min-queries",
    "concurrency": "--concurrency",
}


def _onnx_runtime(text: str) -> str:
    """One runtime that opens an ONNX file (`load` drives one session)."""
    names = _onnx_runtime_list(text)
    if len(names) != 1:
        raise argparse.ArgumentTypeError(f"must name one runtime; got {text!r}")
    return names[0]


def _add_fleet_parser(sub) -> None:
    """`fleet`: a run's ONNX files benchmarked on every Dask worker, one at a time."""
    fleet = sub.add_parser(
        "fleet",
        help="benchmark a run's ONNX files on every worker of a Dask cluster, one at a time",
        description="Send the run's ONNX files to every worker of the cluster and benchmark them "
        "there (the run's harness, the ONNX runtimes available on that worker, the worker's "
        "--nthreads as the thread count unless --threads), one worker at a time; write "
        "RUN/fleet/<host>-<worker>/ per worker and print the cross-host compare table "
        "(the first worker is the base).",
    )
    fleet.add_argument("run", type=Path, help="a run folder (runs/<run>)")
    fleet.add_argument(
        "--cluster",
        default=None,
        metavar="local:N|tcp://HOST:PORT",
        help="the workers to benchmark on (default: $XRBENCH_CLUSTER)",
    )
    fleet.add_argument(
        "--runtimes",
        type=_onnx_runtime_list,
        default=None,
        help="comma-separated ONNX runtimes, each measured where the worker has it "
        "(default: every ONNX runtime available on each worker)",
    )
    fleet.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        default=[1, 32, 256, WHOLE_SET],
        help="batch sizes to time, 'all' = whole test set (default: 1,32,256,all)",
    )
    fleet.add_argument(
        "--rounds", type=_positive_int, default=5, help="timing rounds per row (default: 5)"
    )
    fleet.add_argument(
        "--budget",
        type=_positive_float,
        default=0.2,
        help="minimum timed seconds per batch size and round (default: 0.2)",
    )
    fleet.add_argument(
        "--threads",
        type=_positive_int,
        help="intra-op threads on every worker (default: each worker's --nthreads)",
    )
    fleet.add_argument(
        "--min-effect",
        type=_percent,
        default=5.0,
        metavar="PCT",
        help="smallest change in percent called a difference (default: 5)",
    )
    fleet.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _add_load_parser(sub) -> None:
    from toolkit.harness import loadgen

    ld = sub.add_parser(
        "load",
        help="MLPerf-style load scenarios on one ONNX file: single-stream, offline, server",
        description=LOAD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ld.add_argument("model", type=Path, help="the .onnx file")
    _add_data_options(ld)
    ld.add_argument(
        "--runtime",
        type=_onnx_runtime,
        default="ort-cpu",
        help="an ONNX runtime (default: ort-cpu)",
    )
    ld.add_argument("--scenario", choices=loadgen.SCENARIOS, required=True)
    ld.add_argument(
        "--qps",
        type=_positive_float,
        help="server: mean arrival rate, queries per second; with --find-peak, the first QPS "
        "tried (default: half what 30 calls suggest)",
    )
    ld.add_argument(
        "--p99-ms",
        type=_positive_float,
        default=loadgen.DEFAULT_P99_MS,
        help="server: the bound on the p99 latency in ms (default: 10)",
    )
    ld.add_argument(
        "--duration",
        type=_positive_float,
        default=loadgen.DEFAULT_MIN_DURATION_S,
        help="minimum duration of a run (each find-peak trial) in seconds (default: 10)",
    )
    ld.add_argument(
        "--min-queries",
        type=_positive_int,
        default=loadgen.DEFAULT_MIN_QUERIES,
        help="minimum queries of a run, at least 100 for server (default: 100)",
    )
    ld.add_argument(
        "--max-duration",
        type=_positive_float,
        help="a run stops here, in seconds (default: 6 x --duration)",
    )
    ld.add_argument(
        "--concurrency",
        type=_positive_int,
        default=1,
        help="caller threads sharing one session, offline and server (default: 1)",
    )
    ld.add_argument(
        "--threads",
        type=_positive_int,
        help="intra-op threads of the session (default: all usable cores)",
    )
    ld.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of the arrival schedule and the order of the images (default: 0)",
    )
    ld.add_argument("--find-peak", action="store_true", help="server: search the highest VALID QPS")
    ld.add_argument(
        "--max-trials",
        type=_number(int, lambda v: v >= 2, "an integer >= 2"),
        default=loadgen.DEFAULT_MAX_TRIALS,
        help="--find-peak: the most trials, each a full server run (default: 12)",
    )
    ld.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


STUDIES_NEED = "pip install 'xrbench[train,report]'"


#: What the studies import (the training stack and the report extra), checked without
#: importing any of them.
STUDIES_IMPORT = ("torch", "sklearn", "pandas", "matplotlib")


def _studies_missing() -> str | None:
    """Every module the studies need that is missing ('torch', 'pandas'), so --help and
    `study` name them all; None when they can run."""
    import importlib.util

    missing = [name for name in STUDIES_IMPORT if importlib.util.find_spec(name) is None]
    if missing:
        return "', '".join(missing)
    try:
        import toolkit.studies  # noqa: F401
    except ModuleNotFoundError as e:
        return e.name or str(e)
    return None


def _study_epilog() -> str:
    missing = _studies_missing()
    if missing:
        return f"The studies need the training stack ('{missing}' is missing): {STUDIES_NEED}."
    from toolkit.studies import get_study, list_studies
    from toolkit.studies.profiles import PROFILES

    lines = ["studies (run in this order by 'all'):"]
    lines += [
        textwrap.fill(
            get_study(n).description,
            width=90,
            initial_indent=f"  {n:<15} ",
            subsequent_indent=" " * 18,
        )
        for n in list_studies()
    ]
    lines += ["", "profiles:"]
    lines += [f"  {n:<15} {PROFILES.get(n).description}" for n in PROFILES]
    lines += [
        "",
        "examples:",
        "  xrbench study all --dataset mnist --profile quick      # ~13-15 min on 2 cores",
        "  xrbench study datasize,regularization --dataset fashion-mnist",
        "  xrbench study errors --into runs/<run>                  # add a study to a run",
        "  xrbench report runs/<run>                               # report.html + report.pdf",
        "",
        "Each study writes runs/<run>/studies/<name>/: CSV tables, PNG figures, the ONNX files",
        "it trained, and section.json (findings); a finished study is skipped when the same",
        "folder is continued with --into, so an interrupted 'all' resumes.",
    ]
    return "\n".join(lines)


#: The `study` parser's epilog until `study --help` is printed: listing the studies imports
#: them, and they import torch, which every other command (and plain --help) must not pay for.
STUDY_EPILOG_MARK = "<the studies and profiles, listed when `xrbench study --help` prints>"


class _StudyHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Puts the list of studies into the help text only when that help is formatted."""

    def add_text(self, text: str | None) -> None:
        super().add_text(_study_epilog() if text == STUDY_EPILOG_MARK else text)


def _consumer_list(text: str) -> list[str]:
    from toolkit.consumers import get_consumer

    names = _names(text, "consumer")
    for name in names:
        try:
            get_consumer(name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return names


def _add_app_parsers(sub) -> None:
    """`consumers` and `demo`: the run's files in other apps (toolkit.consumers, toolkit.demo)."""
    from toolkit.consumers import BROWSER_IMAGES, list_consumers

    con = sub.add_parser(
        "consumers",
        help="which apps load a run's ONNX files, and whether their labels agree",
        description="Every ONNX file of a run x every consumer (onnxruntime for Python, "
        "OpenVINO, OpenCV DNN, onnxruntime-node, onnxruntime-web in headless Chromium): loads "
        "or not and what blocks it, label agreement with the harness on the test set, max "
        "|score difference|, batch-1 latency. Written to RUN/consumers.csv; exits 0 whatever "
        "loads.",
    )
    con.add_argument("run", type=Path, help="a run folder (runs/<run>)")
    con.add_argument(
        "--consumers",
        type=_consumer_list,
        default=None,
        help=f"comma-separated consumers (default: all: {', '.join(list_consumers())})",
    )
    con.add_argument(
        "--browser-images",
        type=_positive_int,
        default=BROWSER_IMAGES,
        help=f"first test images the browser runs (default: {BROWSER_IMAGES})",
    )
    con.add_argument(
        "--threads", type=_positive_int, help="threads of each consumer but the browser"
    )
    con.add_argument(
        "--budget",
        type=_positive_float,
        default=0.2,
        help="seconds of timed batch-1 calls per file and consumer (default: 0.2)",
    )
    con.add_argument("--json", action="store_true", help="print the rows as JSON")
    demo = sub.add_parser(
        "demo",
        help="a static page where you draw a digit and every model of a run answers",
        description="Write a static page (HTML, JS, onnxruntime-web's WebAssembly, the run's "
        "ONNX files) where a person draws a digit or drops an image and each model shows its "
        "label, score bars and measured test accuracy.",
    )
    demo.add_argument("run", type=Path, help="a run folder (runs/<run>)")
    demo.add_argument("--out", type=Path, help="where to write the page (default: RUN/demo)")
    demo.add_argument(
        "--serve", action="store_true", help="then serve it on http://127.0.0.1:PORT/"
    )
    demo.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also draw a '7' on the page in headless Chromium and save a screenshot",
    )
    demo.add_argument(
        "--port",
        type=_number(int, lambda v: 0 <= v <= 65535, "a port in [0, 65535]"),
        default=8000,
        help="port of --serve (default: 8000; 0 picks a free one)",
    )


def _add_study_parsers(sub) -> None:
    study = sub.add_parser(
        "study",
        help="run course-project studies (features ... clustering) into a run folder",
        description="Run one study, a comma-separated list, or 'all'. Every model a study "
        "trains is exported to ONNX and its accuracy and latency come from the ONNX file, "
        "through the same harness as `xrbench run`.",
        epilog=STUDY_EPILOG_MARK,
        formatter_class=_StudyHelpFormatter,
    )
    study.add_argument("studies", metavar="NAME", help="a study, NAME,NAME,... or 'all'")
    study.add_argument(
        "--dataset",
        help="mnist, fashion-mnist, kmnist, digits, cifar-10, retinamnist or folder:PATH "
        "(default: mnist, or the --into folder's)",
    )
    study.add_argument(
        "--profile", help="tiny, quick or full (default: quick, or the --into folder's)"
    )
    study.add_argument(
        "--data-dir", help="folder searched first for dataset files (also $XRBENCH_DATA)"
    )
    study.add_argument(
        "--image-size",
        type=_positive_int,
        help="side length images of a folder: dataset are resized to (default 32)",
    )
    study.add_argument("--out", default="runs", help="parent folder of new runs (default: runs)")
    study.add_argument(
        "--name",
        type=_run_name,
        help="name of the new run folder, made inside --out (default: <UTC time>-<host>)",
    )
    study.add_argument(
        "--into", type=Path, help="continue this run folder instead of starting a new one"
    )
    study.add_argument(
        "--force", action="store_true", help="rerun studies that already finished in --into"
    )
    study.add_argument(
        "--threads",
        type=_positive_int,
        help="threads for training and onnxruntime (default: all usable cores)",
    )
    study.add_argument(
        "--seed",
        type=_non_negative_int,
        help="seed of every random step, an integer >= 0 (default: 0, or the --into folder's)",
    )
    study.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading missing files"
    )
    study.add_argument(
        "--report", action="store_true", help="build report.html and report.pdf at the end"
    )
    study.add_argument(
        "--cluster",
        metavar="local:N|tcp://HOST:PORT",
        help="train on a Dask cluster, one task per model: local:N starts N worker processes "
        "here, tcp://HOST:PORT joins a running `dask scheduler`; latency is still timed here "
        "(default: $XRBENCH_CLUSTER, else in this process)",
    )
    report = sub.add_parser(
        "report",
        help="build report.html and report.pdf from a run folder",
        description="One section per study that ran (figures, tables, findings read from the "
        "run's files), after the environment and a summary table. The HTML embeds its figures, "
        "so it can be mailed or opened anywhere.",
    )
    report.add_argument("run", type=Path, help="a run folder (runs/<run>)")
    report.add_argument("--out", type=Path, help="where to write the report (default: the run)")
    report.add_argument("--no-pdf", action="store_true", help="write only report.html")


def _print_json(obj) -> None:
    from toolkit.results import _json_default

    print(json.dumps(obj, indent=2, default=_json_default))


def _refuse_flags_with_resume(args) -> None:
    """`run --resume` takes every setting from the run's manifest: a flag that would change
    one is refused (naming it) instead of being silently overridden.

    The flags typed are found by parsing `run`'s arguments again with every default
    replaced by a marker, so that a flag given with its default value counts too.
    """
    probe = argparse.ArgumentParser(add_help=False)
    _add_run_options(probe)
    unset = object()
    probe.set_defaults(**{dest: unset for dest in vars(probe.parse_args([]))})
    typed = vars(probe.parse_args(args.run_argv))
    allowed = {flag.lstrip("-").replace("-", "_") for flag in RESUME_FLAGS + RESUME_WHERE_FLAGS}
    given = [
        "--" + dest.replace("_", "-")
        for dest, value in typed.items()
        if value is not unset and dest not in allowed and dest != "resume"
    ]
    if given:
        raise ValueError(
            f"--resume {args.resume} takes every setting from its manifest.json, which wins; "
            f"drop {', '.join(given)} (only {', '.join(RESUME_FLAGS)} may be given with --resume)"
        )


def cmd_run(args) -> int:
    from toolkit.pipeline import DEFAULT_MODELS, RunConfig, run

    if args.resume is not None:
        _refuse_flags_with_resume(args)
    config = RunConfig(
        dataset=args.dataset,
        models=args.models or list(DEFAULT_MODELS),
        runtimes=args.runtimes,
        batch_sizes=args.batch_sizes,
        threads=args.threads,
        seed=args.seed,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        image_size=args.image_size,
        data_dir=args.data_dir,
        out=args.out,
        run_name=args.name,
        budget_s=args.budget,
        rounds=args.rounds,
        **({} if args.workers is None else {"workers": args.workers}),
        arena=args.arena == "on",
        download=not args.no_download,
        progress=sys.stderr.isatty() or not args.json,
        **({} if args.precisions is None else {"precisions": args.precisions}),
        train_options=args.train or {},
        cluster=args.cluster,
    )
    result = run(config, resume=args.resume)
    if args.json:
        _print_json(
            {
                "run_dir": str(result.path),
                "wall_time_s": result.wall_time_s,
                "session_wall_time_s": result.session_wall_time_s,
                "summary": result.summary,
                "parity": result.parity,
                "failures": [
                    {k: v for k, v in f.items() if k != "traceback"} for f in result.failures
                ],
                "results": result.rows,
            }
        )
    else:
        from toolkit.variants import flag_summary, read_timings

        summary = flag_summary(result.summary, read_timings(result.path))  # slower than FP32
        columns = list(dict.fromkeys(k for row in summary for k in row))
        if summary:
            print(format_table(summary, columns))
        from toolkit.bandwidth import bound_notes
        from toolkit.harness.timing import percentile_notes

        for note in percentile_notes(result.rows) + bound_notes(result.rows):
            print(f"note: {note}")
        wall = f"wall time: {result.wall_time_s:.0f} s"
        earlier = result.wall_time_s - result.session_wall_time_s
        if earlier > 0:  # a resumed run: the earlier sessions count too
            wall += f" ({earlier:.0f} s before the resume + {result.session_wall_time_s:.0f} s now)"
        print(f"\nrun folder: {result.path}   {wall}")
        for failure in result.failures:
            where = f" on {failure['runtime']}" if failure.get("runtime") else ""
            what = "UNSUPPORTED" if failure.get("status") == "unsupported" else "FAILED"
            print(f"{what} {failure['model']}{where}: {failure['error']}")
    # a runtime that cannot read a file (OpenCV DNN and ai.onnx.ml) is a result, not a failure
    return 1 if any(f.get("status") != "unsupported" for f in result.failures) else 0


def cmd_eval(args) -> int:
    from toolkit.evaluate_file import evaluate_file
    from toolkit.table import printable

    result = evaluate_file(
        args.model,
        dataset=args.dataset,
        runtimes=args.runtime,
        batch_sizes=args.batch_sizes,
        threads=args.threads,
        data_dir=args.data_dir,
        test_per_class=args.test_per_class,
        image_size=args.image_size,
        seed=args.seed,
        budget_s=args.budget,
        rounds=args.rounds,
        download=not args.no_download,
    )
    if args.json:
        _print_json(
            {
                "model": str(result.path),
                "dataset": result.dataset,
                "summary": result.summary,
                "failures": result.failures,
                "results": result.rows,
            }
        )
    else:
        if result.summary:
            print(format_table(result.summary, list(result.summary[0])))
        from toolkit.harness.timing import percentile_notes

        for note in percentile_notes(result.rows):
            print(f"note: {note}")
        for failure in result.failures:  # the error quotes the file: one escaped line each
            print(f"FAILED on {failure['runtime']}: {printable(failure['error'])}")
    return 1 if result.failures else 0


def cmd_load(args) -> int:
    from toolkit.load_file import load_test

    if args.scenario == "server" and args.qps is None and not args.find_peak:
        raise ValueError("--scenario server needs --qps Q (queries per second) or --find-peak")

    def on_trial(result) -> None:
        line = f"trial {on_trial.count}: {_load_line(result)}"
        on_trial.count += 1
        if args.json:
            log.info(line)
        else:
            print(line, flush=True)

    on_trial.count = 1
    try:
        load = load_test(
            args.model,
            dataset=args.dataset,
            scenario=args.scenario,
            runtime=args.runtime,
            qps=args.qps,
            p99_ms=args.p99_ms,
            duration_s=args.duration,
            min_queries=args.min_queries,
            max_duration_s=args.max_duration,
            concurrency=args.concurrency,
            threads=args.threads,
            seed=args.seed,
            find_peak=args.find_peak,
            max_trials=args.max_trials,
            data_dir=args.data_dir,
            test_per_class=args.test_per_class,
            image_size=args.image_size,
            download=not args.no_download,
            on_trial=on_trial,
        )
    except ValueError as e:  # LoadSettings names its parameters: say the flags instead
        text = str(e)
        for parameter, flag in LOAD_FLAGS.items():
            text = text.replace(f"The '{parameter}' parameter", flag)
            if "_" in parameter:  # e.g. "a number >= min_duration_s (10)"
                text = text.replace(parameter, flag)
        if text == str(e):
            raise
        raise ValueError(text) from e
    code = 0 if load.valid else 1
    if args.json:
        written = {"written": load.written, "figure": load.figure}
        _print_json({**load.to_dict(), **{k: v and str(v) for k, v in written.items()}})
        return code
    what = f"{load.model} on {load.runtime}, {load.settings.scenario}"
    if load.peak is not None:
        peak, above = load.peak, ""
        if peak.lowest_invalid_qps:
            above = f"; lowest INVALID {peak.lowest_invalid_qps:.4g} QPS"
        if load.result is None:
            print(f"{what}: INVALID, no VALID QPS in {len(peak.trials)} trials{above}")
        else:
            line = _load_line(load.result)
            print(f"{what}: highest VALID {peak.peak_qps:.4g} QPS{above}: {line}")
    else:
        print(f"{what}: {_load_line(load.result)}")
    print(f"callers: {load.concurrency_note}")
    if load.written is not None:
        print(f"results: {load.written}")
    if load.figure is not None:
        print(f"figure: {load.figure}")
    return code


def _load_line(result) -> str:
    """One scenario run on one line: its verdict, its result and why it is INVALID."""
    s, stats = result.settings, result.stats

    def ms(key: str) -> str:
        return f"{stats[key]:.3g} ms" if key in stats else "-"

    counted = f"{result.completed} queries in {result.duration_s:.1f} s"
    if s.scenario == "single-stream":
        line = (
            f"p90 {ms('latency_p90_ms')} (p50 {ms('latency_p50_ms')}, p99 {ms('latency_p99_ms')})"
        )
    elif s.scenario == "offline":
        line = f"{result.achieved_qps:.4g} queries/s (p50 {ms('latency_p50_ms')} a call)"
    else:
        line = (
            f"{s.qps:.4g} QPS offered: p99 {ms('latency_p99_ms')} (bound {s.p99_ms:g} ms), "
            f"p50 {ms('latency_p50_ms')}"
        )
    text = f"{result.verdict}: {line}, {counted}"
    if result.reasons:
        text += " -- " + "; ".join(result.reasons)
    return text


def cmd_compare(args) -> int:
    from toolkit.compare import compare_runs, gate

    result = compare_runs(args.runs, min_effect=args.min_effect / 100)
    failures = gate(result, args.fail_slower, args.fail_accuracy)
    if args.json:
        _print_json(
            {
                "runs": [str(p) for p in result.runs],
                "min_effect": result.min_effect,
                "differences": result.differences,
                "rows": result.rows,
                "accuracy": result.accuracy,
                "gate_failures": failures,
            }
        )
        return 1 if failures else 0
    print(f"base: {result.runs[0]}")
    for line in result.differences:
        print(f"note: {line}")

    def ci95(r: dict) -> str:
        return "" if r["ci_low"] is None else f"{r['ci_low']:.3f}-{r['ci_high']:.3f}"

    rows = [{**r, "ci95": ci95(r)} for r in result.rows]
    columns = ["model", "runtime", "batch_size", "run", "base_p50_ms", "p50_ms", "ratio"]
    print(format_table(rows, [*columns, "ci95", "verdict"], digits=3))
    counts = {
        v: sum(r["verdict"] == v for r in result.rows)
        for v in ("no difference", "faster", "slower")
    }
    print(
        f"{len(result.rows)} rows: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + f" (a difference: its 95% interval lies beyond {args.min_effect:g}% either way)"
    )
    if result.accuracy:
        print()
        print(
            format_table(
                result.accuracy,
                ["model", "runtime", "run", "base_accuracy", "accuracy", "change_points"],
                digits=4,
            )
        )
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0


def cmd_advise(args) -> int:
    from toolkit.advise import peak_problems, recommend, sweep_session_options

    advice = recommend(args.run)
    sweep = []
    if args.sweep:
        models = args.models.split(",") if args.models else None
        sweep = sweep_session_options(args.run, models=models)
        from toolkit.results import atomic_write_json

        atomic_write_json(args.run / "session_sweep.json", sweep)
    if args.plot:
        from toolkit.figures import pareto_figure

        log.info(f"figure: {pareto_figure(args.run)}")
    if args.json:
        _print_json({"advice": advice, "session_sweep": sweep})
        return 0
    columns = [
        "model",
        "latency_runtime",
        "p50_ms@1",
        "throughput_runtime",
        "throughput_batch",
        "ips",
        "peak_share",
        "peak_check",
        "placement",
    ]
    print(format_table(advice, columns))
    for problem in peak_problems(advice):  # a share above 100% is a measurement bug
        log.warning(problem)
    from toolkit.table import printable

    for row in advice:  # precision variants that do not pay here (toolkit.variants)
        if row.get("precision_note"):
            print(f"{printable(row['model'])}: {row['precision_note']}")
    if sweep:
        best = [r for r in sweep if r["best"]]
        print("\nsession options (ort-cpu): the fastest setting per model and batch size")
        print(
            format_table(best, ["model", "batch_size", "threads", "optimization", "latency_p50_ms"])
        )
        worst = max(sweep, key=lambda r: r["vs_best"])
        print(
            f"\nthe slowest setting is {worst['vs_best']:.2f}x the best "
            f"({worst['model']}, batch {worst['batch_size']}, {worst['threads']} threads, "
            f"optimisation {worst['optimization']}); full sweep: {args.run / 'session_sweep.json'}"
        )
    return 0


def cmd_export(args) -> int:
    from exporters import export_model
    from toolkit.results import atomic_write_bytes
    from toolkit.saved import SAVED_SHA256_KEY, load_trained, onnx_metadata

    if args.out.resolve() == args.model.resolve():
        raise ValueError(f"--out {args.out} is the source file; choose another path.")
    trained = load_trained(args.model)  # every failure is one ValueError line, before any write
    source = onnx_metadata(args.model)
    # the saved model's hash travels too: the new file still describes the same saved model
    kept = {k: source[k] for k in ("parity", "metrics_at_export", SAVED_SHA256_KEY) if k in source}
    model = export_model(trained, kept)
    atomic_write_bytes(args.out, model.SerializeToString())
    print(f"re-exported {trained.name} ({trained.framework}) to {args.out}")
    return 0


def cmd_models(args) -> int:
    from toolkit.models import get_model, knobs_text, list_models, model_knobs

    rows = [
        {
            "name": n,
            "framework": get_model(n).framework,
            "scores": get_model(n).score_kind,
            "description": get_model(n).summary,
            "knobs (defaults)": knobs_text(model_knobs(n)),
        }
        for n in list_models()
    ]
    columns = ["name", "framework", "scores", "description"]
    columns += ["knobs (defaults)"] if args.knobs else []
    print(format_table(rows, columns, width=terminal_width()))
    if not args.knobs:
        print("\nxrbench models --knobs lists the knobs; a variant is NAME:KNOB=VALUE,...")
    return 0


def cmd_fleet(args) -> int:
    from toolkit.fleet import fleet

    result = fleet(
        args.run,
        args.cluster,
        runtimes=args.runtimes,
        batch_sizes=args.batch_sizes,
        rounds=args.rounds,
        budget_s=args.budget,
        threads=args.threads,
        progress=not args.json,
    )
    for where, path in zip(result.workers, result.folders, strict=True):
        print(
            f"worker {where['name']} ({where['address']}, host {where['host']}, "
            f"{where['nthreads']} threads): {path}",
            file=sys.stderr,
        )
    for failure in result.failures:
        what = failure.get("status", "FAILED").upper()
        runtime = f" on {failure['runtime']}" if failure.get("runtime") else ""
        model = f" {failure['model']}" if failure.get("model") else ""
        print(f"{what}{model}{runtime} ({failure['worker']}): {failure['error']}", file=sys.stderr)
    if len(result.folders) < 2:
        print(f"{len(result.folders)} worker(s) measured: no cross-host table", file=sys.stderr)
        code = 0
    else:  # the same table as `xrbench compare`: the first worker is the base
        code = cmd_compare(
            argparse.Namespace(
                runs=result.folders,
                min_effect=args.min_effect,
                fail_slower=None,
                fail_accuracy=None,
                json=args.json,
            )
        )
    bad = [f for f in result.failures if f.get("status") not in ("unsupported", "missing")]
    return 1 if bad or code or not result.folders else 0


def cmd_runtimes(_args) -> int:
    from toolkit.harness import get_runtime, list_runtimes

    rows = []
    for name in list_runtimes():
        spec = get_runtime(name)
        missing = spec.missing()
        rows.append(
            {
                "runtime": name,
                "runs": spec.kind,
                "device": spec.device,
                "available": "yes" if missing is None else "no",
                "notes": missing or spec.summary,
            }
        )
    columns = ["runtime", "runs", "device", "available", "notes"]
    print(format_table(rows, columns, width=terminal_width()))
    return 0


def cmd_datasets(args) -> int:
    from toolkit.data import dataset_status

    rows = [
        {
            "name": s["name"],
            "found": "yes" if s["found"] else "no",
            "where / how to get": s["where"] if s["found"] else s["how_to_get"],
        }
        for s in dataset_status(args.data_dir)
    ]
    print(format_table(rows, ["name", "found", "where / how to get"], width=terminal_width()))
    return 0


def cmd_study(args) -> int:
    missing = _studies_missing()
    if missing:
        raise ImportError(
            f"the studies need '{missing}', which this environment lacks: {STUDIES_NEED}"
        )
    from toolkit.studies.runner import resolve_studies, run_studies

    names = resolve_studies(args.studies)
    result = run_studies(
        names,
        dataset=args.dataset,
        profile=args.profile,
        out=args.out,
        run_name=args.name,
        into=args.into,
        seed=args.seed,
        data_dir=args.data_dir,
        image_size=args.image_size,
        threads=args.threads,
        force=args.force,
        download=not args.no_download,
        cluster=args.cluster,
    )
    rows = [
        {
            "study": name,
            "status": outcome["status"],
            "wall_s": f"{outcome['wall_time_s']:.1f}",
            "error": outcome.get("error", ""),
        }
        for name, outcome in result.outcomes.items()
    ]
    print(format_table(rows, ["study", "status", "wall_s", "error"]))
    print(f"run folder: {result.path} ({result.wall_time_s:.0f} s)")
    if args.report:
        _build_report(result.path, None, pdf=True)
    return 1 if result.failed else 0


def cmd_consumers(args) -> int:
    from toolkit.consumers import run_consumers

    matrix = run_consumers(
        args.run,
        consumers=args.consumers,
        threads=args.threads,
        budget_s=args.budget,
        browser_images=args.browser_images,
    )
    if args.json:
        _print_json({"path": str(matrix.path), "rows": matrix.rows})
        return 0
    print(format_table(matrix.cells(), ["model", *matrix.consumers], width=terminal_width()))
    blocked = [r for r in matrix.rows if r.get("what_to_change")]
    for row in blocked:
        print(f"{row['model']} on {row['consumer']}: {row['what_to_change']}")
    print(f"\nconsumers: {matrix.path}")
    return 0


def cmd_demo(args) -> int:
    from toolkit.demo import build_demo

    out = build_demo(args.run, args.out)
    print(f"demo: {out / 'index.html'}")
    if args.screenshot is not None:
        from toolkit.consumers.browser import BrowserError
        from toolkit.demo import screenshot_demo

        try:
            print(f"screenshot: {screenshot_demo(out, args.screenshot)}")
        except BrowserError as e:  # no Chromium, or the page failed: one line, as any error
            print(f"xrbench demo: error: --screenshot: {e}", file=sys.stderr)
            return 2
    if args.serve:
        from toolkit.consumers.browser import LocalServer

        server = LocalServer(out, args.port)
        print(f"serving {out} on {server.url()} (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:  # how a person stops a server: not an error
            pass
        finally:
            server.close()
    return 0


def cmd_report(args) -> int:
    _build_report(args.run, args.out, pdf=not args.no_pdf)
    return 0


def _build_report(run: Path, out: Path | None, pdf: bool) -> None:
    from toolkit.report import build_report

    paths = build_report(run, out_dir=out, pdf=pdf)
    for kind, path in paths.items():
        if path is not None:
            print(f"{kind}: {path}")


COMMANDS = {
    "study": cmd_study,
    "report": cmd_report,
    "advise": cmd_advise,
    "export": cmd_export,
    "compare": cmd_compare,
    "fleet": cmd_fleet,
    "run": cmd_run,
    "eval": cmd_eval,
    "load": cmd_load,
    "models": cmd_models,
    "runtimes": cmd_runtimes,
    "datasets": cmd_datasets,
    "consumers": cmd_consumers,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xrbench` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command == "run":  # what follows `run`, for --resume's check of the flags given
        args.run_argv = argv[argv.index("run") + 1 :]
    if not args.command:
        parser.print_help()
        return 2
    configure_logging(verbose=True)  # notes and progress lines: plain text on stderr
    from toolkit.data import DataFileError, DownloadError
    from toolkit.harness import ContractError, RuntimeUnavailable

    try:
        return COMMANDS[args.command](args)
    except (
        ValueError,
        OSError,  # FileNotFoundError, PermissionError, IsADirectoryError, a full disk, ...
        RuntimeUnavailable,
        ContractError,
        DataFileError,
        DownloadError,
        ImportError,
    ) as e:
        print(f"xrbench {args.command}: error: {_error_text(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(_interrupted(args, getattr(e, "run_dir", None)), file=sys.stderr)
        return 130


def _error_text(error: BaseException) -> str:
    """One line for an error; an OSError of the system ("[Errno 21] ...") names its file."""
    if isinstance(error, OSError) and error.strerror and str(error).startswith("[Errno"):
        files = [str(f) for f in (error.filename, error.filename2) if f is not None]
        return f"{error.strerror}: {' -> '.join(files)}" if files else error.strerror
    return str(error)


def _interrupted(args, run_dir: Path | None) -> str:
    """What Ctrl-C left behind, and the command that continues it."""
    import shlex

    if args.command == "run":
        run_dir = run_dir or args.resume
        if run_dir is not None:
            return f"interrupted; resume with: xrbench run --resume {shlex.quote(str(run_dir))}"
        return "interrupted before the run folder was made; nothing to resume"
    if args.command == "study":
        run_dir = run_dir or args.into
        if run_dir is not None:
            return (
                f"interrupted; resume with: xrbench study {shlex.quote(args.studies)} "
                f"--into {shlex.quote(str(run_dir))}"
            )
        return "interrupted before the run folder was made; nothing to resume"
    return "interrupted"


if __name__ == "__main__":
    sys.exit(main())
