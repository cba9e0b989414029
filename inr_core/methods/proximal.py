"""The proximal-gradient harness of ``llr``, ``l-plus-s`` and ``grasp`` (as sigpy's ``App`` runs an ``Alg``).

The three methods minimise ``1/2 ||A x - y||^2 + R(x)`` with the multi-coil encoding ``A`` of
``inr_core.methods.encoding`` and differ only in the regulariser ``R`` and the iteration that
handles it. What they share is here, written once:

- ``LeastSquares``: the data term, set up once per reconstruction: ``A^H y`` (the zero-filled /
  gridded series every method starts from and scales its weights by), the gram ``A^H A`` (coil by
  coil through buffers kept with it, ``inr_core.operators.normal``) and its Lipschitz bound
  ``||A^H A||``; ``gradient_step`` is the data-consistency step ``x - step (A^H A x - A^H y)``.
  ``pulled(x0, mu)`` adds ``mu/2 ||x - x0||^2`` to it (gram + mu I, rhs + mu x0, Lipschitz + mu): the
  short refinement after an INR (``inr_core.methods.inr.refine``) runs a method's own iteration on it.
- ``Iteration``: one scheme's state and its ``update()``; ``FISTA`` is the accelerated proximal
  gradient iteration for any proximal map (LLR's block SVT).
- ``ProximalMethod``: a ``Method`` whose ``reconstruct`` sets up the data term, runs the loop
  (``config.iterations`` updates or until the iteration says it has converged), reports progress
  (ending at done == total, also when stopped early) and logs the time taken. A method only
  says which ``Iteration`` to run, and from which start (``A^H y`` unless given one: ``solve``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from inr_core.methods.base import Method, no_progress
from inr_core.methods.encoding import encoding
from inr_core.methods.solvers import lipschitz_bound
from inr_core.operators import LinearOperator

log = logging.getLogger(__name__)


@dataclass
class LeastSquares:
    """``1/2 ||A x - y||^2 (+ pull/2 ||x - towards||^2)``: ``rhs = A^H y``, ``gram = A^H A``, ``lipschitz``
    >= ``||A^H A||``.

    ``rhs`` and ``lipschitz`` stay those of the data term when pulled: the methods scale their weights
    by them (``A^H y`` sets the data's intensity scale), and a pull must not change what ``lam`` means.
    The iterations take their step from ``curvature``, the Lipschitz bound of the whole gradient."""

    gram: LinearOperator
    rhs: torch.Tensor
    lipschitz: float
    pull: float = 0.0  # mu >= 0 of mu/2 ||x - towards||^2
    towards: torch.Tensor | None = None

    @classmethod
    def of(cls, data, coil_maps: torch.Tensor) -> LeastSquares:
        a, y = encoding(data, coil_maps)
        rhs = a.H(y)
        return cls(a.gram, rhs, lipschitz_bound(a, rhs))

    def pulled(self, towards: torch.Tensor, mu: float) -> LeastSquares:
        """This data term plus ``mu/2 ||x - towards||^2`` (``mu`` >= 0; 0 is this problem's gradient exactly)."""
        if not mu >= 0 or mu == float("inf"):
            raise ValueError(f"the pull must be a finite number >= 0, got {mu}")
        if towards.shape != self.rhs.shape:
            raise ValueError(f"the pull's image has shape {tuple(towards.shape)}, the data term's images "
                             f"{tuple(self.rhs.shape)}")
        return replace(self, pull=float(mu), towards=towards.to(self.rhs.dtype))

    @property
    def curvature(self) -> float:
        """A Lipschitz bound of the whole gradient: ``||A^H A|| + pull``."""
        return self.lipschitz + self.pull

    def gradient_step(self, x: torch.Tensor, step: float, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``x - step (A^H A x - A^H y + pull (x - towards) + extra)``: a new tensor (``x`` is left as it is).

        The gram's result is the only temporary; it is updated in place (the same operations in the
        same order as the expression, so the same numbers; without a pull, as before it had one)."""
        g = self.gram(x)
        g.sub_(self.rhs)
        if self.pull:
            assert self.towards is not None  # set with the pull, by pulled()
            g.add_(x - self.towards, alpha=self.pull)
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
    ``k``, as LLR's shifted block grid does). ``x`` starts at ``start``, ``A^H y`` when None."""

    def __init__(self, problem: LeastSquares, prox: Callable[[torch.Tensor, int], torch.Tensor],
                 start: torch.Tensor | None = None):
        self.problem, self.prox = problem, prox
        self.step = 1.0 / problem.curvature
        self.x = self.z = problem.rhs if start is None else start
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

    def iteration(self, problem: LeastSquares, data, start: torch.Tensor | None = None) -> Iteration:
        """The scheme on ``problem``, its image starting at ``start`` (``problem.rhs`` when None)."""
        raise NotImplementedError

    def reconstruct(self, data, coil_maps, progress):
        return self.solve(data, coil_maps, progress)

    def solve(self, data, coil_maps, progress=no_progress, start: torch.Tensor | None = None,
              pull: float = 0.0) -> torch.Tensor:
        """``config.iterations`` of the method from ``start`` (``A^H y`` when None) on the data term plus
        ``mu/2 ||x - start||^2``, ``mu = pull * ||A^H A||`` (relative: the same pull means the same for every
        trajectory and scan). ``start=None, pull=0`` is ``reconstruct``. ``data`` and ``coil_maps`` are
        taken as they are (``__call__`` checks them and moves them to the method's device)."""
        began = time.perf_counter()
        problem = LeastSquares.of(data, coil_maps)
        log.debug("%s: data term set up in %.2f s (||A^H A|| <= %.3g)", self.name, time.perf_counter() - began,
                  problem.lipschitz)
        if pull:
            if start is None:
                raise ValueError(f"{self.name}: a pull needs the image to pull towards (start)")
            problem = problem.pulled(start, pull * problem.lipschitz)
        return run(self.name, self.iteration(problem, data, start), self.config.iterations, progress)
