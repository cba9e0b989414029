"""The proximal-gradient harness of ``llr``, ``l-plus-s`` and ``grasp`` (as sigpy's ``App`` runs an ``Alg``).

The three methods minimise ``1/2 ||A x - y||^2 + R(x)`` with the multi-coil encoding ``A`` of
``inr_core.methods.encoding`` and differ only in the regulariser ``R`` and the iteration that
handles it. What they share is here, written once:

- ``LeastSquares``: the data term, set up once per reconstruction: ``A^H y`` (the zero-filled /
  gridded series every method starts from and scales its weights by), the gram ``A^H A`` (coil by
  coil through buffers kept with it, ``inr_core.operators.normal``) and its Lipschitz bound
  ``||A^H A||``; ``gradient_step`` is the data-consistency step ``x - step (A^H A x - A^H y)``.
- ``Iteration``: one scheme's state and its ``update()``; ``FISTA`` is the accelerated proximal
  gradient iteration for any proximal map (LLR's block SVT).
- ``ProximalMethod``: a ``Method`` whose ``reconstruct`` sets up the data term, runs the loop
  (``config.iterations`` updates or until the iteration says it has converged), reports progress
  (ending at done == total, also when stopped early) and logs the time taken. A method only
  says which ``Iteration`` to run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inr_core.methods.base import Method
from inr_core.methods.encoding import encoding
from inr_core.methods.solvers import lipschitz_bound
from inr_core.operators import LinearOperator

log = logging.getLogger(__name__)


@dataclass
class LeastSquares:
    """``1/2 ||A x - y||^2``: ``rhs = A^H y``, ``gram = A^H A``, ``lipschitz`` >= ``||A^H A||``."""

    gram: LinearOperator
    rhs: torch.Tensor
    lipschitz: float

    @classmethod
    def of(cls, data, coil_maps: torch.Tensor) -> LeastSquares:
        a, y = encoding(data, coil_maps)
        rhs = a.H(y)
        return cls(a.gram, rhs, lipschitz_bound(a, rhs))

    def gradient_step(self, x: torch.Tensor, step: float, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``x - step (A^H A x - A^H y + extra)``: a new tensor (``x`` is left as it is).

        The gram's result is the only temporary; it is updated in place (the same operations in the
        same order as the expression, so the same numbers)."""
        g = self.gram(x)
        g.sub_(self.rhs)
        if extra is not None:
            g.add_(extra)
        g.mul_(step)
        return torch.sub(x, g, out=g)


class Iteration:
    """One iterative scheme on a ``LeastSquares`` problem: state in attributes, ``update()`` advances it
    by one iteration and returns a note for the progress line (``""`` for none); ``converged`` ends
    the loop early; ``result`` is the current image series."""

    converged: bool = False

    def update(self) -> str:
        raise NotImplementedError

    @property
    def result(self) -> torch.Tensor:
        raise NotImplementedError


class FISTA(Iteration):
    """Accelerated proximal gradient (Beck and Teboulle 2009) with step ``1 / lipschitz``:

        x_k = prox_k(z - step A^H (A z - y)),   z = x_k + (t_{k-1} - 1) / t_k (x_k - x_{k-1})

    ``prox(v, k)`` is the proximal map of ``step * R`` at iteration ``k`` (0-based; it may change with
    ``k``, as LLR's shifted block grid does)."""

    def __init__(self, problem: LeastSquares, prox: Callable[[torch.Tensor, int], torch.Tensor]):
        self.problem, self.prox = problem, prox
        self.step = 1.0 / problem.lipschitz
        self.x = self.z = problem.rhs
        self.t, self.k = 1.0, 0

    def update(self) -> str:
        x_new = self.prox(self.problem.gradient_step(self.z, self.step), self.k)
        t_new = (1 + (1 + 4 * self.t * self.t) ** 0.5) / 2
        self.z = x_new + ((self.t - 1) / t_new) * (x_new - self.x)
        self.x, self.t, self.k = x_new, t_new, self.k + 1
        return ""

    @property
    def result(self):
        return self.x


def run(name: str, iteration: Iteration, total: int, progress) -> torch.Tensor:
    """The loop: ``total`` updates or fewer when ``iteration.converged``; progress ends at ``(total, total)``."""
    start = time.perf_counter()
    done = 0
    while done < total and not iteration.converged:
        note = iteration.update()
        done += 1
        progress(done, total, f"{name} iteration {done}/{total}" + (f", {note}" if note else ""))
    if done < total:
        progress(total, total, f"{name} converged after {done} iterations")
    log.debug("%s: %d iterations in %.2f s", name, done, time.perf_counter() - start)
    return iteration.result


class ProximalMethod(Method):
    """A method solved by an ``Iteration`` on the shared data term (``config.iterations`` bounds the loop)."""

    def iteration(self, problem: LeastSquares, data) -> Iteration:
        raise NotImplementedError

    def reconstruct(self, data, coil_maps, progress):
        start = time.perf_counter()
        problem = LeastSquares.of(data, coil_maps)
        log.debug("%s: data term set up in %.2f s (||A^H A|| <= %.3g)", self.name, time.perf_counter() - start,
                  problem.lipschitz)
        return run(self.name, self.iteration(problem, data), self.config.iterations, progress)
