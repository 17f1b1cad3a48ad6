"""Export a fitted linear model to ONNX: imputation, scaling, scores and link in one graph.

The graph has one input, ``X``: float32 of shape ``(N, d)``, the numeric columns in the
order of ``model.input_columns_["numeric"]`` (also stored in the model's metadata as
``bigfit.input_columns``), with NaN for a missing value. It applies the fitted transform
the way bigfit does on float32 rows (``(x - mean) / scale``, the centre as a float32 pair
``hi + lo``, then a NaN takes the column's fill value, already scaled), then
``MatMul`` + ``Add``, then the link. Its outputs are

- classifiers: ``label`` of shape ``(N,)``, the class (int64, double, bool or string,
  following the dtype of ``classes_``), and ``probabilities`` ``(N, n_classes)`` float32
  in ``classes_`` order (a sigmoid for two classes, a softmax beyond);
- regressors: ``variable`` ``(N, 1)`` float32 (the shape skl2onnx gives regressors).

Limits, for now:

- numeric features only: categorical values are hashed by bigfit before encoding and
  datetime columns are split into calendar parts, and neither is feasible in plain ONNX;
  such models are refused, naming the columns;
- classifiers with the log loss (binary or multinomial) and regressors with the squared
  or Huber loss; ``loss="hinge"`` gives no probabilities and is refused;
- with ``impute="error"`` the graph does not refuse a NaN: it yields NaN outputs;
- scores are float32 in the graph where bigfit accumulates them in float64: outputs agree
  to about 1e-6 relative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from bigfit._version import __version__
from bigfit.exceptions import InvalidParameterError, MissingDependencyError

if TYPE_CHECKING:
    import onnx

    from bigfit.data.transforms import FeatureTransformer
    from bigfit.models.linear._base import LinearModel

DEFAULT_OPSET = 17
"""Opset of the default domain when none is asked for: run by onnxruntime 1.13 and later."""

MIN_OPSET = 13
INPUT_NAME = "X"


def import_onnx() -> ModuleType:
    """Return the ``onnx`` module, or raise :class:`MissingDependencyError` with the pip command."""
    try:
        import onnx
    except ImportError as error:
        raise MissingDependencyError(
            f"Exporting to ONNX needs the onnx package, which is not installed ({error}). "
            "Install it with: pip install 'bigfit[onnx]'") from error
    return onnx


def to_onnx(model: LinearModel, *, opset: int | None = None) -> onnx.ModelProto:
    """Return the fitted ``model`` as an ONNX model (see the module docstring for its graph).

    Raises
    ------
    MissingDependencyError
        onnx is not installed.
    NotFittedError
        ``model`` is not fitted.
    InvalidParameterError
        ``opset`` is out of range, the model reads categorical or datetime columns, or its
        loss gives no probabilities.
    """
    onnx = import_onnx()
    model._check_fitted()
    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    link = _check_exportable(model)
    graph = _Graph(onnx)
    features = _transform(graph, model.transformer_)
    coef = graph.constant("coef", model._coef_full.astype(np.float32))
    intercept = graph.constant("intercept", model._intercept_full.astype(np.float32))
    product = graph.node("MatMul", [features, coef], "product")
    if link == "identity":
        graph.node("Add", [product, intercept], "variable")
        graph.output("variable", onnx.TensorProto.FLOAT, ["N", 1])
    else:
        scores = graph.node("Add", [product, intercept], "scores")
        _classifier_outputs(graph, scores, link, model.classes_)
    n_inputs = len(model.transformer_.feature_names_in_)  # input_columns_["numeric"]: no datetime
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT,
                                                 ["N", n_inputs])]
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(graph.nodes, type(model).__name__, inputs, graph.outputs,
                               initializer=graph.initializers),
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="bigfit", producer_version=__version__,
        doc_string=f"bigfit {type(model).__name__}: numeric columns -> {_describe(link)}.")
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.helper.set_model_props(proto, _metadata(model))
    onnx.checker.check_model(proto)
    return proto


def _check_opset(opset: int | None, newest: int) -> int:
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer) or not (
            MIN_OPSET <= opset <= newest):
        raise InvalidParameterError(
            f"The 'opset' parameter of to_onnx must be an int in the range [{MIN_OPSET}, "
            f"{newest}] (the newest this onnx knows) or None. Got {opset!r} instead.")
    return int(opset)


def _check_exportable(model: LinearModel) -> str:
    """Return the link the graph applies: ``identity``, ``sigmoid`` or ``softmax``."""
    columns = model.input_columns_
    refused = {role: columns[role] for role in ("categorical", "datetime") if columns[role]}
    if refused:
        named = "; ".join(f"{role} {names}" for role, names in refused.items())
        raise InvalidParameterError(
            f"ONNX export supports numeric features only for now, but this "
            f"{type(model).__name__} reads {named}: bigfit hashes categorical values and "
            "splits datetimes into calendar parts, which plain ONNX cannot do. Fit the model on "
            "numeric columns only (Dataset(..., features=[...])) to export it.")
    loss = model._make_loss(model._design.n_outputs).name
    links = {"log_loss": "sigmoid", "multinomial": "softmax", "squared_error": "identity",
             "huber": "identity"}
    if loss not in links:
        raise InvalidParameterError(
            f"ONNX export supports the log loss for classifiers and the squared or Huber loss for "
            f"regressors; this {type(model).__name__} has loss={loss!r}, which gives no "
            "probabilities. Use loss='log_loss' to export it.")
    return links[loss]


@dataclass
class _Graph:
    """The nodes and constants of a graph under construction, with unique names."""

    onnx: ModuleType
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)

    def constant(self, name: str, value: np.ndarray) -> str:
        """Add ``value`` as an initializer named ``name``; return the name."""
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """Add an ``op`` node writing ``output``; return ``output``."""
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=output,
                                                     **attributes))
        return output

    def output(self, name: str, elem_type: int, shape: list[Any]) -> None:
        """Declare the value ``name`` as a graph output."""
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))


def _transform(graph: _Graph, transformer: FeatureTransformer) -> str:
    """Add the numeric transform of ``transformer`` (as its ``ColumnScaler`` computes it)."""
    values = INPUT_NAME
    fill = transformer.fill_values_
    if transformer.standardize:
        mean, scale = transformer.mean_, transformer.scale_
        high = mean.astype(np.float32)
        low = (mean - high.astype(np.float64)).astype(np.float32)
        values = graph.node("Sub", [values, graph.constant("mean_hi", high)], "centred_hi")
        if low.any():
            values = graph.node("Sub", [values, graph.constant("mean_lo", low)], "centred")
        inverse = (1.0 / scale).astype(np.float32)
        values = graph.node("Mul", [values, graph.constant("inverse_scale", inverse)], "scaled")
        fill = (fill - mean) / scale
    if transformer.impute == "error":
        return values
    missing = graph.node("IsNaN", [INPUT_NAME], "missing")
    return graph.node("Where", [missing, graph.constant("fill", fill.astype(np.float32)), values],
                      "features")


def _classifier_outputs(graph: _Graph, scores: str, link: str, classes: np.ndarray) -> None:
    """Add ``label`` (from the scores, as ``predict`` picks it) and ``probabilities``."""
    onnx = graph.onnx
    if link == "sigmoid":
        shape = graph.constant("flat_shape", np.array([-1], dtype=np.int64))
        flat = graph.node("Reshape", [scores, shape], "score")
        zero = graph.constant("zero", np.array(0.0, dtype=np.float32))
        positive = graph.node("Greater", [flat, zero], "positive")
        index = graph.node("Cast", [positive], "class_index", to=onnx.TensorProto.INT64)
        negative = graph.node("Neg", [scores], "negated_scores")
        first = graph.node("Sigmoid", [negative], "probability_0")
        second = graph.node("Sigmoid", [scores], "probability_1")
        graph.node("Concat", [first, second], "probabilities", axis=1)
    else:
        index = graph.node("ArgMax", [scores], "class_index", axis=1, keepdims=0)
        graph.node("Softmax", [scores], "probabilities", axis=1)
    labels, label_type = _label_values(classes, onnx.TensorProto)
    graph.node("Gather", [graph.constant("classes", labels), index], "label", axis=0)
    graph.output("label", label_type, ["N"])
    graph.output("probabilities", onnx.TensorProto.FLOAT, ["N", len(classes)])


def _label_values(classes: np.ndarray, types: Any) -> tuple[np.ndarray, int]:
    """``classes`` as the values of the ``label`` output (int64, double, bool or strings)."""
    kind = classes.dtype.kind
    if kind in "iu":
        return classes.astype(np.int64), types.INT64
    if kind == "f":
        return classes.astype(np.float64), types.DOUBLE
    if kind == "b":
        return classes.astype(np.bool_), types.BOOL
    strings = [v if isinstance(v, bytes) else str(v) for v in classes.tolist()]
    return np.array(strings, dtype=object), types.STRING


def _metadata(model: LinearModel) -> dict[str, str]:
    props = {"bigfit.estimator": type(model).__name__,
             "bigfit.input_columns": json.dumps(list(model.transformer_.feature_names_in_))}
    if hasattr(model, "classes_"):
        props["bigfit.classes"] = json.dumps([str(v) for v in model.classes_.tolist()])
    return props


def _describe(link: str) -> str:
    return {"identity": "variable", "sigmoid": "label, probabilities (sigmoid)",
            "softmax": "label, probabilities (softmax)"}[link]
