"""Full-batch L-BFGS and OWL-QN (Andrew and Gao, 2007), deterministic and resumable.

Minimises ``F(x) = f(x) + l1 * sum_{i in mask} |x_i|`` for a smooth ``f`` given as
``fun(x) -> (f, grad f)``.  With ``l1 = 0`` this is L-BFGS with a backtracking (Armijo)
line search; with ``l1 > 0`` it is OWL-QN: the quasi-Newton direction is computed from the
pseudo-gradient, clipped to its sign pattern, and each trial point is projected onto the
orthant of the current point, so coordinates reach exact zeros.

The quasi-Newton arithmetic runs on the *support*: the coordinates where the gradient
has ever been non-zero.  Elsewhere the point, the gradient, every ``(s, y)`` pair and so
every direction are exactly zero (a hashed coefficient that no row reaches, say), so
leaving those coordinates out changes nothing but the cost: with 2**18 hash buckets a
column and a few hundred categories, an iteration works on hundreds of numbers, not
hundreds of thousands, and the memory holds as few.

The whole optimiser state (point, value, gradient, support, the ``(s, y)`` memory,
iteration count, history) lives in :class:`OptimizerState`, made of plain arrays and
numbers: a run resumed from the state saved after ``k`` iterations continues exactly as
the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bigfit._params import Interval, validate_params

Fun = Callable[[np.ndarray], tuple[float, np.ndarray]]

_EPS = float(np.finfo(np.float64).eps)
_ARMIJO = 1e-4


@dataclass
class OptimizerState:
    """Everything needed to continue a run: plain arrays and numbers (see :meth:`to_dict`).

    Attributes
    ----------
    x : ndarray of shape (n,)
        Current point.
    f : float
        Smooth value ``f(x)`` (without the L1 term).
    g : ndarray of shape (n,)
        Smooth gradient at ``x``.
    s, y : tuple of ndarray of shape (len(support),)
        Memory of the last ``m`` steps ``x_{k+1} - x_k`` and gradient changes on the
        support, oldest first (rows, so that a snapshot per iteration copies nothing;
        :meth:`to_dict` stacks them).
    n_iter : int
        Iterations done.
    history : ndarray of shape (n_iter + 1,)
        ``F`` at the start and after every iteration.
    support : ndarray of int, optional
        Sorted coordinates where the gradient has been non-zero (see the module
        docstring); None when ``s`` and ``y`` are full length (a state from an older
        checkpoint, or a start).
    """

    x: np.ndarray
    f: float
    g: np.ndarray
    s: tuple[np.ndarray, ...]
    y: tuple[np.ndarray, ...]
    n_iter: int = 0
    history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    support: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the state as a dict of numpy arrays and numbers (for a checkpoint)."""
        support, s, y = _on_support(self)
        return {"x": self.x.copy(), "f": float(self.f), "g": self.g.copy(),
                "s": _stack(s, len(support)), "y": _stack(y, len(support)),
                "support": support.copy(), "n_iter": int(self.n_iter),
                "history": self.history.copy()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> OptimizerState:
        """Rebuild a state written by :meth:`to_dict`."""
        x = np.array(state["x"], dtype=np.float64)
        support = np.array(state["support"], dtype=np.int64) if "support" in state else None
        n = len(x) if support is None else len(support)
        return cls(x=x, f=float(state["f"]), g=np.array(state["g"], dtype=np.float64),
                   s=tuple(np.array(state["s"], dtype=np.float64).reshape(-1, n)),
                   y=tuple(np.array(state["y"], dtype=np.float64).reshape(-1, n)),
                   n_iter=int(state["n_iter"]),
                   history=np.array(state["history"], dtype=np.float64), support=support)


@dataclass
class Result:
    """What :func:`minimize` returns.

    Attributes
    ----------
    x : ndarray
        The solution.
    fun : float
        ``F(x)``, the L1 term included.
    n_iter : int
        Iterations done (over every resumed run).
    converged : bool
        True when the pseudo-gradient fell below ``tol`` or ``F`` stopped decreasing.
    history : list of float
        ``F`` at the start and after each iteration.
    message : str
        Why the run stopped.
    state : OptimizerState
        The state to resume from.
    """

    x: np.ndarray
    fun: float
    n_iter: int
    converged: bool
    history: list[float]
    message: str
    state: OptimizerState


class _Memory:
    """The last ``size`` pairs ``(s, y)`` on the support and the two-loop product ``-H v``."""

    def __init__(self, size: int, s: tuple[np.ndarray, ...], y: tuple[np.ndarray, ...]) -> None:
        self.size = size
        self.s, self.y = list(s[-size:]), list(y[-size:])

    def push(self, s: np.ndarray, y: np.ndarray) -> None:
        if float(s @ y) > _EPS * float(y @ y):  # keep H positive definite
            self.s.append(s)
            self.y.append(y)
            del self.s[: -self.size], self.y[: -self.size]

    def clear(self) -> None:
        self.s.clear()
        self.y.clear()

    def embed(self, support: np.ndarray, grown: np.ndarray) -> None:
        """Re-index the pairs from ``support`` to its superset ``grown`` (zeros in the new places)."""
        if len(grown) == len(support):
            return
        at = np.searchsorted(grown, support)
        self.s = [_embed(v, at, len(grown)) for v in self.s]
        self.y = [_embed(v, at, len(grown)) for v in self.y]

    def direction(self, v: np.ndarray) -> np.ndarray:
        """Return ``-H v`` (``-v`` scaled to unit length when the memory is empty)."""
        if not self.s:
            return -v / max(float(np.linalg.norm(v)), 1.0)
        q = v.copy()
        rho = [1.0 / float(s @ y) for s, y in zip(self.s, self.y, strict=True)]
        a = np.empty(len(self.s))
        for i in reversed(range(len(self.s))):
            a[i] = rho[i] * float(self.s[i] @ q)
            q -= a[i] * self.y[i]
        q *= float(self.s[-1] @ self.y[-1]) / float(self.y[-1] @ self.y[-1])
        for i in range(len(self.s)):
            q += (a[i] - rho[i] * float(self.y[i] @ q)) * self.s[i]
        return -q


def _stack(rows: tuple[np.ndarray, ...], n: int) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, n))


def _embed(values: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[at] = values
    return out


def _on_support(state: OptimizerState) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Return the state's support and its pairs on it; a state without one gets the
    coordinates where ``x``, ``g`` or a pair is non-zero."""
    if state.support is not None:
        return state.support, state.s, state.y
    nonzero = np.zeros(len(state.x), dtype=bool)
    for v in (state.x, state.g, *state.s, *state.y):
        nonzero |= v != 0
    support = np.flatnonzero(nonzero)
    return support, tuple(v[support] for v in state.s), tuple(v[support] for v in state.y)


def pseudo_gradient(x: np.ndarray, g: np.ndarray, l1: float, mask: np.ndarray) -> np.ndarray:
    """The minimum-norm subgradient of ``f + l1 |x|_mask`` (Andrew and Gao's pseudo-gradient)."""
    if l1 == 0:
        return g
    right, left = g + l1, g - l1  # one-sided derivatives at x_i = 0
    at_zero = np.where(right < 0, right, np.where(left > 0, left, 0.0))
    pg = np.where(x > 0, right, np.where(x < 0, left, at_zero))
    return np.where(mask, pg, g)


class _Problem:
    """``F``, the pseudo-gradient and the orthant projection for one ``(fun, l1, mask)``."""

    def __init__(self, fun: Fun, l1: float, mask: np.ndarray) -> None:
        self.fun, self.l1, self.mask = fun, l1, mask

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray, float]:
        f, g = self.fun(x)
        g = np.asarray(g, dtype=np.float64)
        return float(f), g, float(f) + self.penalty(x)

    def penalty(self, x: np.ndarray) -> float:
        return self.l1 * float(np.abs(x[self.mask]).sum()) if self.l1 else 0.0

    def constrain(self, d: np.ndarray, pg: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Zero the penalised components of ``d`` that do not point down ``-pg``."""
        return np.where(mask & (d * pg >= 0), 0.0, d) if self.l1 else d

    def project(self, x_new: np.ndarray, orthant: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Zero the penalised coordinates of ``x_new`` that left ``orthant``."""
        if not self.l1:
            return x_new
        return np.where(mask & (np.sign(x_new) != orthant), 0.0, x_new)


def minimize(fun: Fun, x0: np.ndarray, *, l1: float = 0.0, l1_mask: np.ndarray | None = None,
             max_iter: int = 100, tol: float = 1e-6, history: int = 10,
             callback: Callable[[OptimizerState], bool | None] | None = None,
             state: OptimizerState | None = None, ftol: float = 64 * _EPS,
             max_linesearch: int = 50) -> Result:
    """Minimise ``f(x) + l1 * ||x[l1_mask]||_1`` with L-BFGS (``l1 = 0``) or OWL-QN.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, grad)`` of the smooth part, e.g. an
        :class:`~bigfit.models.linear._objective.Objective`.
    x0 : ndarray of shape (n,)
        Starting point (ignored when ``state`` is given).
    l1 : float
        Weight of the L1 term.
    l1_mask : ndarray of bool, optional
        Coordinates the L1 term applies to (all by default; pass the design's
        ``penalty_mask()`` to spare intercepts).
    max_iter : int
        Total iterations, counting those already in ``state``.
    tol : float
        Stop when ``max |pseudo-gradient| <= tol``.
    history : int
        Number of ``(s, y)`` pairs kept.
    callback : callable, optional
        ``callback(state)`` after every iteration (a checkpoint hook); returning True stops.
    state : OptimizerState, optional
        Resume from this state (``Result.state`` or a state passed to ``callback``).
    ftol : float
        Also stop when ``(F_k - F_{k+1}) <= ftol * max(|F_k|, |F_{k+1}|, 1)``.
    max_linesearch : int
        Step halvings tried before the line search gives up.

    Returns
    -------
    Result
    """
    validate_params("minimize", {"l1": l1, "max_iter": max_iter, "tol": tol, "history": history},
                    {"l1": [Interval(float, 0.0, None)], "max_iter": [Interval(int, 0, None)],
                     "tol": [Interval(float, 0.0, None)], "history": [Interval(int, 1, None)]})
    if state is None:
        x = np.array(x0, dtype=np.float64).reshape(-1)
        mask = _mask(l1_mask, len(x))
        problem = _Problem(fun, float(l1), mask)
        f, g, F = problem.evaluate(x)
        state = OptimizerState(x, f, g, (), (), 0, np.array([F]))
    else:
        mask = _mask(l1_mask, len(state.x))
        problem = _Problem(fun, float(l1), mask)
    return _run(problem, state, max_iter, tol, history, callback, ftol, max_linesearch)


def _mask(l1_mask: np.ndarray | None, n: int) -> np.ndarray:
    if l1_mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(l1_mask, dtype=bool).reshape(-1)
    if mask.shape != (n,):
        raise ValueError(f"l1_mask has {mask.size} entries but x has {n}.")
    return mask


def _run(problem: _Problem, state: OptimizerState, max_iter: int, tol: float, size: int,
         callback: Callable[[OptimizerState], bool | None] | None, ftol: float,
         max_linesearch: int) -> Result:
    x, f, g, n_iter = state.x, state.f, state.g, state.n_iter
    F = f + problem.penalty(x)
    start, s, y = _on_support(state)
    support = np.union1d(start, np.flatnonzero(g))  # grows only at a start
    memory = _Memory(size, s, y)
    memory.embed(start, support)
    history = [float(v) for v in state.history]
    converged, message = False, "reached max_iter"
    while True:
        mask = problem.mask[support]
        pg = pseudo_gradient(x[support], g[support], problem.l1, mask)
        if float(np.max(np.abs(pg), initial=0.0)) <= tol:
            converged, message = True, "the pseudo-gradient is below tol"
            break
        if n_iter >= max_iter:
            break
        step = _line_search(problem, x, F, pg, memory, support, mask, max_linesearch)
        if step is None and memory.s:  # retry once along steepest descent
            memory.clear()
            step = _line_search(problem, x, F, pg, memory, support, mask, max_linesearch)
        if step is None:
            message = "the line search found no decrease (F is flat to machine precision here)"
            break
        x_new, f_new, g_new, F_new = step
        grown = np.union1d(support, np.flatnonzero(g_new))
        memory.embed(support, grown)
        memory.push(x_new[grown] - x[grown], g_new[grown] - g[grown])
        decrease = F - F_new
        x, f, g, F, n_iter, support = x_new, f_new, g_new, F_new, n_iter + 1, grown
        history.append(F)
        if decrease <= ftol * max(abs(F), abs(F + decrease), 1.0):
            converged, message = True, "F decreased by less than ftol"
            break
        if callback is not None and callback(_snapshot(x, f, g, memory, n_iter, history, support)):
            message = "stopped by the callback"
            break
    final = _snapshot(x, f, g, memory, n_iter, history, support)
    return Result(x, F, n_iter, converged, history, message, final)


def _line_search(problem: _Problem, x: np.ndarray, F: float, pg: np.ndarray, memory: _Memory,
                 support: np.ndarray, mask: np.ndarray, max_linesearch: int,
                 ) -> tuple[np.ndarray, float, np.ndarray, float] | None:
    """Backtrack from step 1 along the (constrained) quasi-Newton direction until Armijo
    holds; ``pg``, the direction and ``mask`` (the L1 mask) live on ``support``, where
    ``x`` may move."""
    d = problem.constrain(memory.direction(pg), pg, mask)
    if float(d @ pg) >= 0:  # not a descent direction: restart from steepest descent
        memory.clear()
        d = problem.constrain(memory.direction(pg), pg, mask)
    x_on = x[support]
    orthant = np.where(x_on != 0, np.sign(x_on), -np.sign(pg))
    t = 1.0
    for _ in range(max_linesearch):
        moved = problem.project(x_on + t * d, orthant, mask)
        x_new = x.copy()
        x_new[support] = moved
        f_new, g_new, F_new = problem.evaluate(x_new)
        if F_new <= F + _ARMIJO * float(pg @ (moved - x_on)):
            return x_new, f_new, g_new, F_new
        t *= 0.5
    return None


def _snapshot(x: np.ndarray, f: float, g: np.ndarray, memory: _Memory, n_iter: int,
              history: list[float], support: np.ndarray) -> OptimizerState:
    # The memory's rows and the support are never written in place: the snapshot shares them.
    return OptimizerState(x.copy(), f, g.copy(), tuple(memory.s), tuple(memory.y), n_iter,
                          np.array(history), support)
