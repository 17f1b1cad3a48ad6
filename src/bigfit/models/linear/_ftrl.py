"""FTRL-Proximal (McMahan et al. 2013, "Ad click prediction: a view from the trenches").

Per coordinate ``i`` the optimizer keeps ``z_i`` and ``n_i`` (the sum of squared gradients)
and the weight is a closed form of them:

    w_i = 0                                                    if |z_i| <= l1
    w_i = -(z_i - sign(z_i) l1) / ((beta + sqrt(n_i)) / alpha + l2)   otherwise

A gradient ``g_i`` updates ``z_i += g_i - sigma_i w_i`` with
``sigma_i = (sqrt(n_i + g_i^2) - sqrt(n_i)) / alpha``, then ``n_i += g_i^2``.  A mini-batch
step does this for every coordinate the batch touches (the numeric rows, the codes present
and the intercept, which has no ``l1``/``l2``) with the batch's mean gradient, and writes
their new weights into ``coef``: untouched coordinates keep ``z``, ``n`` and so their weight,
which keeps ``coef`` equal to the weights of the state at all times.
"""

from __future__ import annotations

import numpy as np

from bigfit._params import Interval, validate_params
from bigfit.models.linear._design import SparseGradient
from bigfit.models.linear._optimizers import Optimizer


class FTRL(Optimizer):
    """FTRL-Proximal with per-coordinate learning rates ``alpha / (beta + sqrt(n_i))``.

    Parameters
    ----------
    alpha, beta : float
        Learning-rate scale and smoothing.
    l1, l2 : float
        Regularisation of the coefficients (not the intercept), on FTRL's cumulative
        scale: ``l1`` is the threshold on ``|z_i|``.

    Notes
    -----
    ``coef`` and ``intercept`` must start at zero (or at the weights of a loaded state):
    FTRL owns the weights, which are a function of its state.

    Examples
    --------
    >>> ftrl = FTRL(alpha=0.5, l1=0.0)
    >>> coef, intercept = np.zeros((1, 1)), np.zeros(1)
    >>> grad = SparseGradient(np.array([[1.0]]), np.zeros(0, dtype=np.intp),
    ...                       np.zeros((0, 1)), np.array([0.0]))
    >>> ftrl.step(coef, intercept, grad)
    >>> coef  # -z / ((beta + sqrt(n)) / alpha) = -1 / (2 / 0.5)
    array([[-0.25]])
    """

    slots = ("z", "n")

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, l1: float = 0.0,
                 l2: float = 0.0) -> None:
        validate_params("FTRL", {"alpha": alpha, "beta": beta, "l1": l1, "l2": l2},
                        {"alpha": [Interval(float, 0.0, None, closed="neither")],
                         "beta": [Interval(float, 0.0, None, closed="neither")],
                         "l1": [Interval(float, 0.0, None)], "l2": [Interval(float, 0.0, None)]})
        super().__init__()
        self.alpha, self.beta, self.l1, self.l2 = float(alpha), float(beta), float(l1), float(l2)

    def step(self, coef: np.ndarray, intercept: np.ndarray, grad: SparseGradient) -> None:
        """Update the touched coordinates from the mean gradient ``grad`` taken at ``coef``."""
        self._allocate(coef, intercept)
        d = grad.dense.shape[0]
        coef[:d] = self._update(self._coef, slice(0, d), grad.dense, coef[:d], self.l1, self.l2)
        if len(grad.index):
            rows = d + grad.index
            coef[rows] = self._update(self._coef, rows, grad.codes, coef[rows], self.l1, self.l2)
        intercept[:] = self._update(self._intercept, slice(None), grad.intercept, intercept,
                                    0.0, 0.0)
        self.step_count += 1

    def _update(self, slots: dict[str, np.ndarray], sel: slice | np.ndarray, g: np.ndarray,
                w: np.ndarray, l1: float, l2: float) -> np.ndarray:
        """Fold ``g`` into ``z``, ``n`` at ``sel``; return the new weights there."""
        z, n = slots["z"], slots["n"]
        n_old = n[sel]
        n_new = n_old + g * g
        sigma = (np.sqrt(n_new) - np.sqrt(n_old)) / self.alpha
        z_new = z[sel] + g - sigma * w
        z[sel], n[sel] = z_new, n_new
        shrunk = np.sign(z_new) * np.maximum(np.abs(z_new) - l1, 0.0)
        return -shrunk / ((self.beta + np.sqrt(n_new)) / self.alpha + l2)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(coef, intercept)`` from the state (what ``step`` keeps in ``coef``)."""
        if not self._coef:
            raise ValueError("FTRL has no state yet: call step (or load_state_dict) first.")
        def closed_form(slots: dict[str, np.ndarray], l1: float, l2: float) -> np.ndarray:
            z, n = slots["z"], slots["n"]
            shrunk = np.sign(z) * np.maximum(np.abs(z) - l1, 0.0)
            return -shrunk / ((self.beta + np.sqrt(n)) / self.alpha + l2)

        return closed_form(self._coef, self.l1, self.l2), closed_form(self._intercept, 0.0, 0.0)
