"""The proximal-gradient harness shared by llr, l-plus-s and grasp: the data term's step, FISTA, the loop."""

import pytest
import torch

from inr_core.methods import get_method
from inr_core.methods.proximal import FISTA, Iteration, LeastSquares, ProximalMethod, run
from inr_core.operators import LinearOperator


class _Matrix(LinearOperator):
    def __init__(self, m):
        self.m = m

    def forward(self, x):
        return self.m @ x

    def adjoint(self, y):
        return self.m.conj().T @ y


def _problem(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n + 2, n, dtype=torch.complex64, generator=g)
    y = torch.randn(n + 2, dtype=torch.complex64, generator=g)
    gram = _Matrix(a.conj().T @ a)
    return a, y, LeastSquares(gram, a.conj().T @ y, float(torch.linalg.matrix_norm(a, 2)) ** 2 * 1.05)


def test_gradient_step_is_the_expression_and_leaves_x_alone():
    _, _, problem = _problem()
    x = torch.randn(6, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    extra, before = torch.ones(6, dtype=torch.complex64), x.clone()
    step = problem.gradient_step(x, 0.1, extra=extra)
    torch.testing.assert_close(step, x - 0.1 * (problem.gram(x) - problem.rhs + extra), rtol=0, atol=0)
    assert torch.equal(x, before)


def test_fista_with_the_identity_prox_solves_least_squares():
    a, y, problem = _problem()
    x = run("test", FISTA(problem, lambda v, k: v), 400, lambda *args: None)
    expected = torch.linalg.lstsq(a, y[:, None]).solution[:, 0]
    assert float((x - expected).norm() / expected.norm()) < 1e-3


class _Counting(Iteration):
    def __init__(self, stop_after):
        self.updates, self.stop_after = 0, stop_after

    def update(self):
        self.updates += 1
        self.converged = self.updates >= self.stop_after
        return f"note {self.updates}"

    @property
    def result(self):
        return torch.tensor(float(self.updates))


@pytest.mark.parametrize("stop_after, expected", [(3, 3), (100, 10)])
def test_run_stops_when_converged_and_progress_ends_at_total(stop_after, expected):
    calls = []
    result = run("demo", _Counting(stop_after), 10, lambda done, total, message: calls.append((done, total, message)))
    assert int(result) == expected
    assert calls[0] == (1, 10, "demo iteration 1/10, note 1")
    assert calls[-1][:2] == (10, 10)
    assert len(calls) == expected + (expected < 10)


@pytest.mark.parametrize("name", ["llr", "l-plus-s", "grasp"])
def test_the_proximal_methods_run_on_the_harness(name):
    assert issubclass(get_method(name), ProximalMethod)


def test_l_plus_s_stops_early_through_the_harness(cartesian, maps):
    calls = []
    cls = get_method("l-plus-s")
    images = cls(cls.make_config(tol=10.0, iterations=5))(cartesian, maps, lambda *c: calls.append(c))
    assert images.shape == (cartesian.frames, *cartesian.image_shape)
    assert calls[0][:2] == (1, 5) and calls[-1] == (5, 5, "l-plus-s converged after 1 iterations")
