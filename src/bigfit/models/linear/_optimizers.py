"""Mini-batch optimizers for linear models: SGD (scikit-learn's schedules), AdaGrad and Adam.

Each ``step(coef, intercept, grad)`` takes the batch's mean data gradient (a
:class:`~bigfit.models.linear._design.SparseGradient`, from
:func:`~bigfit.models.linear._objective.batch_gradient`) and updates the parameters in place.

Regularisation ``alpha (l1_ratio |w|_1 + (1 - l1_ratio) / 2 |w|^2)`` is not part of the
gradient: after the gradient step each coefficient takes the proximal step of the penalty
with its own step size ``eta_i``,

    w_i <- sign(u_i) max(|u_i| - eta_i l1, 0) / (1 + eta_i l2),   u_i = w_i - eta_i d_i,

(``d`` the gradient, or Adam's corrected first moment), so L1 gives exact zeros and L2 is a
weight decay kept out of the moment estimates (decoupled from them, as in AdamW, but scaled by
``eta_i`` so that the fixed point is the minimiser of the regularised objective).  The
intercept is not penalised.

Code rows are sparse: a step updates only the rows a batch touches.  The penalty of the
``n`` steps a row missed (zero gradient) is caught up when the row is next touched, or by
:meth:`flush`, in closed form: with ``e`` the row's mean step size over those steps and
``A = (1 + e l2)^-n``, ``|w| <- max(A |w| - (l1 / l2) (1 - A), 0)`` (``|w| - n e l1`` when
``l2 = 0``), which is exactly ``n`` proximal steps of size ``e``.  It is exact for AdaGrad,
Adam and constant-rate SGD, and for decaying SGD schedules exact in L1 and exact to second
order in the spread of the missed step sizes in L2.  Adam's moments of a code row change
only on steps that touch it (the "lazy"/sparse Adam of TensorFlow and PyTorch).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bigfit._params import Interval, Options, validate_params
from bigfit.data.batch import Batch
from bigfit.exceptions import InvalidParameterError
from bigfit.models.linear._design import LinearDesign, SparseGradient
from bigfit.models.linear._kernels import catch_up, index_codes
from bigfit.models.linear._loss import Loss
from bigfit.models.linear._objective import batch_gradient

Selector = slice | np.ndarray

_REGULARISATION = {"alpha": [Interval(float, 0.0, None)], "l1_ratio": [Interval(float, 0.0, 1.0)]}


class Optimizer:
    """Base class of the mini-batch optimizers (SGD, AdaGrad, Adam, FTRL).

    Hooks, in the order a training loop calls them (:func:`train_batch` does the first three):

    - :meth:`refresh` with the distinct codes of the next batch, so their rows are current
      (``step`` assumes they are);
    - the caller computes the batch's mean gradient at ``(coef, intercept)``;
    - :meth:`step` updates ``coef`` and ``intercept`` in place;
    - :meth:`flush` before ``coef`` is read (predictions, saving a model);
    - :meth:`state_dict` / :meth:`load_state_dict` for checkpoints.

    Per-coordinate arrays named in ``slots`` are shaped like ``coef`` and ``intercept``;
    ``state_dict`` holds them as ``<slot>_coef`` and ``<slot>_intercept``, with
    ``step_count`` and what :meth:`_extra_state` adds.
    """

    slots: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.step_count = 0
        self._coef: dict[str, np.ndarray] = {}
        self._intercept: dict[str, np.ndarray] = {}

    def step(self, coef: np.ndarray, intercept: np.ndarray, grad: SparseGradient) -> None:
        """Update ``coef`` and ``intercept`` in place from the batch's mean gradient ``grad``."""
        raise NotImplementedError

    def refresh(self, coef: np.ndarray, index: np.ndarray) -> None:
        """Bring the code rows ``index`` (distinct codes) up to date before a gradient is taken
        there; nothing to do for optimizers whose weights are always current."""

    def flush(self, coef: np.ndarray) -> None:
        """Bring every row of ``coef`` up to date; call before reading ``coef``."""

    def _allocate(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        if not self._coef:
            self._coef = {name: np.zeros(coef.shape) for name in self.slots}
            self._intercept = {name: np.zeros(intercept.shape) for name in self.slots}
        elif any(a.shape != coef.shape for a in self._coef.values()):
            shape = next(iter(self._coef.values())).shape
            raise ValueError(f"{type(self).__name__} holds state for coef of shape {shape}; "
                             f"got coef of shape {coef.shape}. Use a new optimizer per model.")

    def state_dict(self) -> dict[str, Any]:
        """Return the optimizer state: numpy arrays and numbers only (copies)."""
        state: dict[str, Any] = {"kind": type(self).__name__, "step_count": self.step_count}
        for name in self._coef:
            state[f"{name}_coef"] = self._coef[name].copy()
            state[f"{name}_intercept"] = self._intercept[name].copy()
        state.update(self._extra_state())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state made by :meth:`state_dict` of the same kind of optimizer."""
        if state.get("kind") != type(self).__name__:
            raise InvalidParameterError(f"This state is of a {state.get('kind')!r} optimizer, "
                                        f"not of a {type(self).__name__}.")
        self.step_count = int(state["step_count"])
        present = all(f"{name}_coef" in state for name in self.slots)
        self._coef = {n: np.array(state[f"{n}_coef"], dtype=np.float64)
                      for n in self.slots} if present else {}
        self._intercept = {n: np.array(state[f"{n}_intercept"], dtype=np.float64)
                           for n in self.slots} if present else {}
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Read what :meth:`_extra_state` wrote."""


def train_batch(optimizer: Optimizer, batch: Batch, design: LinearDesign, loss: Loss,
                coef: np.ndarray, intercept: np.ndarray, *,
                exact: bool = True) -> tuple[float, float]:
    """One step on a prepared batch: refresh its code rows, take the mean gradient, step.

    ``exact=False`` multiplies in float32 (see :mod:`~bigfit.models.linear._design`).
    Returns the batch's weighted mean loss at the parameters before the step, and its
    weight sum.
    """
    index = None
    if batch.codes is not None and batch.codes.size:
        index = index_codes(batch.codes, design.n_codes)
        optimizer.refresh(coef, index[0])
    mean_loss, weight, grad = batch_gradient(batch, design, loss, coef, intercept, index=index,
                                             exact=exact)
    optimizer.step(coef, intercept, grad)
    return mean_loss, weight


class MiniBatchOptimizer(Optimizer):
    """Base of SGD, AdaGrad and Adam: proximal regularisation and lazy code rows.

    A subclass gives the global step size of step ``t`` (:meth:`_base_rate`), turns a
    gradient into per-coordinate step sizes and a direction (:meth:`_precondition`), and
    says how a code row's step size scales the base rate while it is not touched
    (:meth:`_lazy_scale`).

    Parameters
    ----------
    alpha : float
        Regularisation strength.
    l1_ratio : float
        L1 share of the penalty (0: ridge, 1: lasso).

    Attributes
    ----------
    step_count : int
        Steps taken.
    samples_seen : int
        Rows of every batch stepped on.
    """

    def __init__(self, *, alpha: float = 0.0, l1_ratio: float = 0.0) -> None:
        validate_params(type(self).__name__, {"alpha": alpha, "l1_ratio": l1_ratio},
                        _REGULARISATION)
        super().__init__()
        self.alpha, self.l1_ratio = float(alpha), float(l1_ratio)
        self.l1 = self.alpha * self.l1_ratio
        self.l2 = self.alpha - self.l1
        self._elapsed = 0.0  # sum of the base rates of every step so far
        self._seen = np.zeros(0)  # _elapsed just after the last step that touched each code
        self._seen_step = np.zeros(0, dtype=np.int64)  # that step (0: none yet)
        self._n_numeric = 0
        self.samples_seen = 0

    def step(self, coef: np.ndarray, intercept: np.ndarray, grad: SparseGradient) -> None:
        """Take one step from the batch's mean gradient ``grad`` (in place)."""
        d = grad.dense.shape[0]
        self._allocate(coef, intercept)
        if len(self._seen) != coef.shape[0] - d:
            self._seen = np.zeros(coef.shape[0] - d)
            self._seen_step = np.zeros(coef.shape[0] - d, dtype=np.int64)
        self._n_numeric = d
        t = self.step_count + 1
        base = self._base_rate(t, grad.n_rows)
        eta, direction = self._precondition("coef", slice(0, d), grad.dense, t, base)
        coef[:d] = self._prox(coef[:d] - eta * direction, eta)
        eta, direction = self._precondition("intercept", slice(None), grad.intercept, t, base)
        intercept -= eta * direction
        if len(grad.index):  # rows brought up to date by refresh
            rows = d + grad.index
            eta, direction = self._precondition("coef", rows, grad.codes, t, base)
            coef[rows] = self._prox(coef[rows] - eta * direction, eta)
            self._seen[grad.index] = self._elapsed + base
            self._seen_step[grad.index] = t
        self._elapsed += base
        self.step_count = t
        self.samples_seen += grad.n_rows

    def refresh(self, coef: np.ndarray, index: np.ndarray) -> None:
        """Apply the penalty the code rows ``index`` owe for the steps that missed them."""
        if self.alpha == 0 or not len(self._seen) or not len(index):
            return
        scale = self._lazy_scale(self._n_numeric + index, self.step_count + 1)
        catch_up(coef[self._n_numeric:], index, self._seen, self._seen_step, self._elapsed,
                 self.step_count, scale, self.l1, self.l2)

    def flush(self, coef: np.ndarray) -> None:
        """Apply the penalty every code row still owes; call before reading ``coef``."""
        self.refresh(coef, np.arange(len(self._seen)))
        self._elapsed = 0.0  # nothing is owed: restart the sum of step sizes from zero
        self._seen[:] = 0.0

    def _prox(self, u: np.ndarray, eta: float | np.ndarray) -> np.ndarray:
        """``sign(u) max(|u| - eta l1, 0) / (1 + eta l2)``."""
        if self.alpha == 0:
            return u
        if self.l1:
            u = np.sign(u) * np.maximum(np.abs(u) - eta * self.l1, 0.0)
        return u / (1.0 + eta * self.l2) if self.l2 else u

    def _base_rate(self, t: int, rows: int) -> float:
        """The step size of step ``t``, on a batch of ``rows`` rows."""
        raise NotImplementedError

    def _precondition(self, part: str, sel: Selector, g: np.ndarray, t: int,
                      base: float) -> tuple[float | np.ndarray, np.ndarray]:
        """Update the slots of ``part`` (``"coef"`` or ``"intercept"``) at ``sel`` from ``g``;
        return the step sizes and the direction."""
        raise NotImplementedError

    def _lazy_scale(self, rows: np.ndarray, t: int) -> np.ndarray | None:
        """Per-coordinate factor of the base rate for code ``rows`` before step ``t``
        (None: 1)."""
        return None

    def _slot(self, part: str, name: str) -> np.ndarray:
        return (self._coef if part == "coef" else self._intercept)[name]

    def _extra_state(self) -> dict[str, Any]:
        # After flush every entry below is zero, so states of workers that flushed can be
        # averaged (parameter mixing) without inventing a debt.
        return {"elapsed": self._elapsed, "seen": self._seen.copy(),
                "owed_steps": self.step_count - self._seen_step, "n_numeric": self._n_numeric,
                "samples_seen": self.samples_seen}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._elapsed = float(state["elapsed"])
        self._seen = np.array(state["seen"], dtype=np.float64)
        self._seen_step = self.step_count - np.array(state["owed_steps"], dtype=np.int64)
        self._n_numeric = int(state["n_numeric"])
        self.samples_seen = int(state["samples_seen"])


class SGD(MiniBatchOptimizer):
    """Plain SGD, ``w <- prox(w - eta_t g)``, with scikit-learn's learning-rate schedules.

    - ``"constant"``: ``eta_t = eta0``;
    - ``"optimal"``: ``eta_t = 1 / (a (t0 + t - 1))`` with ``a = schedule_alpha`` (by default
      ``alpha``) and ``t0`` from Bottou's heuristic (needs ``a > 0`` and the ``loss``);
    - ``"invscaling"``: ``eta_t = eta0 / t ** power_t``;
    - ``"adaptive"``: ``eta0`` until :meth:`reduce_learning_rate` divides it (the estimator
      calls it after ``n_iter_no_change`` epochs without improvement).

    As in scikit-learn, ``t`` counts samples and ``eta_t`` is a per-sample step: a step on a
    batch of ``B`` rows at ``t = samples_seen + 1`` moves along the batch's mean gradient by

        max(eta_t, min(B eta_t, max_step))

    (then ``t`` advances by ``B``): about what ``B`` per-sample steps would move (the linear
    scaling rule of Goyal et al. 2017), capped at ``max_step``, about the inverse of the mean
    loss's curvature, which keeps the large early steps of ``"optimal"`` stable.  With one row
    per batch, or ``max_step=None`` (the step is then ``eta_t``), this is scikit-learn's update.
    ``schedule_alpha`` serves ``penalty=None`` with the ``"optimal"`` schedule: ``alpha=0``
    (no penalty) and ``schedule_alpha`` for the schedule.

    Examples
    --------
    >>> SGD(learning_rate="invscaling", eta0=0.1, power_t=0.5).learning_rate_at(4)
    0.05
    """

    def __init__(self, learning_rate: str = "optimal", *, eta0: float = 0.01,
                 power_t: float = 0.5, alpha: float = 0.0001, l1_ratio: float = 0.0,
                 loss: Loss | None = None, schedule_alpha: float | None = None,
                 max_step: float | None = None) -> None:
        super().__init__(alpha=alpha, l1_ratio=l1_ratio)
        validate_params("SGD", {"learning_rate": learning_rate, "eta0": eta0, "power_t": power_t,
                                "max_step": max_step},
                        {"learning_rate": [Options(frozenset(
                            {"constant", "optimal", "invscaling", "adaptive"}))],
                         "eta0": [Interval(float, 0.0, None, closed="neither")],
                         "power_t": [Interval(float, None, None)],
                         "max_step": [None, Interval(float, 0.0, None, closed="neither")]})
        self.learning_rate, self.eta0, self.power_t = learning_rate, float(eta0), float(power_t)
        self.max_step = None if max_step is None else float(max_step)
        self._eta = self.eta0
        self._t0 = 0.0
        self.schedule_alpha = self.alpha if schedule_alpha is None else float(schedule_alpha)
        if learning_rate == "optimal":
            if not self.schedule_alpha > 0 or loss is None:
                raise InvalidParameterError(
                    "learning_rate='optimal' needs alpha (or schedule_alpha) > 0 and the loss "
                    f"(got alpha={alpha!r}, schedule_alpha={schedule_alpha!r}, loss={loss!r}).")
            typical = np.sqrt(1.0 / np.sqrt(self.schedule_alpha))
            initial = typical / max(1.0, loss.slope_at(-typical))  # as scikit-learn
            self._t0 = 1.0 / (initial * self.schedule_alpha)

    def learning_rate_at(self, t: int) -> float:
        """The step size at sample ``t`` (1-based)."""
        if self.learning_rate == "optimal":
            return 1.0 / (self.schedule_alpha * (self._t0 + t - 1))
        if self.learning_rate == "invscaling":
            return self.eta0 / t**self.power_t
        return self._eta

    @property
    def current_learning_rate(self) -> float:
        """The step size of the next step."""
        return self.learning_rate_at(self.samples_seen + 1)

    def reduce_learning_rate(self, factor: float = 5.0) -> float:
        """Divide the ``"adaptive"`` step size by ``factor``; return the new step size."""
        if self.learning_rate != "adaptive":
            raise InvalidParameterError("Only learning_rate='adaptive' reduces its step size; "
                                        f"this SGD uses {self.learning_rate!r}.")
        self._eta /= factor
        return self._eta

    def _base_rate(self, t: int, rows: int) -> float:
        rate = self.learning_rate_at(self.samples_seen + 1)
        if self.max_step is None or rows <= 1:
            return rate
        return max(rate, min(rows * rate, self.max_step))

    def _precondition(self, part: str, sel: Selector, g: np.ndarray, t: int,
                      base: float) -> tuple[float | np.ndarray, np.ndarray]:
        return base, g

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "eta": self._eta}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self._eta = float(state["eta"])


class AdaGrad(MiniBatchOptimizer):
    """AdaGrad (Duchi et al. 2011): ``G += g^2``, ``eta_i = eta0 / (sqrt(G_i) + eps)``."""

    slots = ("sum_sq",)

    def __init__(self, eta0: float = 0.1, *, eps: float = 1e-8, alpha: float = 0.0,
                 l1_ratio: float = 0.0) -> None:
        super().__init__(alpha=alpha, l1_ratio=l1_ratio)
        validate_params("AdaGrad", {"eta0": eta0, "eps": eps},
                        {"eta0": [Interval(float, 0.0, None, closed="neither")],
                         "eps": [Interval(float, 0.0, None, closed="neither")]})
        self.eta0, self.eps = float(eta0), float(eps)

    def _base_rate(self, t: int, rows: int) -> float:
        return self.eta0

    def _precondition(self, part: str, sel: Selector, g: np.ndarray, t: int,
                      base: float) -> tuple[float | np.ndarray, np.ndarray]:
        sum_sq = self._slot(part, "sum_sq")
        sum_sq[sel] += g * g
        return base / (np.sqrt(sum_sq[sel]) + self.eps), g

    def _lazy_scale(self, rows: np.ndarray, t: int) -> np.ndarray | None:
        return 1.0 / (np.sqrt(self._coef["sum_sq"][rows]) + self.eps)


class Adam(MiniBatchOptimizer):
    """Adam (Kingma and Ba 2015): bias-corrected moments ``m``, ``v``;
    ``eta_i = eta0 / (sqrt(v_hat_i) + eps)``, direction ``m_hat``."""

    slots = ("m", "v")

    def __init__(self, eta0: float = 0.001, *, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, alpha: float = 0.0, l1_ratio: float = 0.0) -> None:
        super().__init__(alpha=alpha, l1_ratio=l1_ratio)
        validate_params("Adam", {"eta0": eta0, "beta1": beta1, "beta2": beta2, "eps": eps},
                        {"eta0": [Interval(float, 0.0, None, closed="neither")],
                         "beta1": [Interval(float, 0.0, 1.0, closed="left")],
                         "beta2": [Interval(float, 0.0, 1.0, closed="left")],
                         "eps": [Interval(float, 0.0, None, closed="neither")]})
        self.eta0, self.beta1, self.beta2, self.eps = (float(eta0), float(beta1), float(beta2),
                                                       float(eps))

    def _base_rate(self, t: int, rows: int) -> float:
        return self.eta0

    def _precondition(self, part: str, sel: Selector, g: np.ndarray, t: int,
                      base: float) -> tuple[float | np.ndarray, np.ndarray]:
        m, v = self._slot(part, "m"), self._slot(part, "v")
        m[sel] = self.beta1 * m[sel] + (1.0 - self.beta1) * g
        v[sel] = self.beta2 * v[sel] + (1.0 - self.beta2) * (g * g)
        v_hat = v[sel] / (1.0 - self.beta2**t)
        return base / (np.sqrt(v_hat) + self.eps), m[sel] / (1.0 - self.beta1**t)

    def _lazy_scale(self, rows: np.ndarray, t: int) -> np.ndarray | None:
        v_hat = self._coef["v"][rows] / (1.0 - self.beta2 ** max(t - 1, 1))
        return 1.0 / (np.sqrt(v_hat) + self.eps)
