"""Column and metric names shared by the harness, the results folder and the reports.

One tidy row per model x dataset x runtime x batch size x metric (pytest-benchmark's
'one fields tuple' pattern): every writer and reader uses these names.
"""

#: Columns of results.csv, in order.
COLUMNS = (
    "model",
    "dataset",
    "runtime",
    "provider",
    "batch_size",
    "threads",
    "metric",
    "value",
)

#: Metrics measured on the whole test set, per model x runtime (batch_size left empty).
QUALITY_METRICS = (
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "precision_macro",
    "recall_macro",
    "f1_macro",
)

#: Columns of parity.csv: the exported file against the native model, on the whole test set.
PARITY_COLUMNS = (
    "model",
    "dataset",
    "n_samples",
    "label_agreement",
    "disagreements",
    "native_ties",
    "disagreements_on_ties",
    "max_abs_score_diff",
    "native_accuracy",
    "onnx_accuracy",
    "score_kind",
)


def per_class_metric(metric: str, class_index: int) -> str:
    """Name of a per-class metric row, e.g. ``recall_class_7``."""
    return f"{metric}_class_{class_index}"


#: Columns of placement.csv: which provider ran which share of each graph (from the profiler).
PLACEMENT_COLUMNS = ("model", "runtime", "provider", "node_share", "time_share")
