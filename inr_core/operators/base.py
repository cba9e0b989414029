"""Linear operators that compose like the maths: ``A = M @ F @ S``, ``A.H``, ``A.H @ A``.

Every concrete operator implements ``forward`` and ``adjoint``; composition, adjoints, sums and
scalar multiples come from here, so an adjointness test of each concrete operator covers every
composite built from them.
"""

from __future__ import annotations

import torch


class LinearOperator:
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    @property
    def H(self) -> LinearOperator:  # noqa: N802 - the maths' name
        return _Adjoint(self)

    @property
    def gram(self) -> LinearOperator:
        """``A.H @ A``; operators with a cheaper normal operator override this."""
        return self.H @ self

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Composition(self, other)

    def __add__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, other)

    def __rmul__(self, scalar) -> LinearOperator:
        return _Scaled(self, scalar)

    def __mul__(self, scalar) -> LinearOperator:
        return _Scaled(self, scalar)


class Identity(LinearOperator):
    def forward(self, x):
        return x

    def adjoint(self, y):
        return y


class _Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator):
        self.op = op

    def forward(self, x):
        return self.op.adjoint(x)

    def adjoint(self, y):
        return self.op.forward(y)

    @property
    def H(self):  # noqa: N802
        return self.op


class _Composition(LinearOperator):
    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        self.outer, self.inner = outer, inner

    def forward(self, x):
        return self.outer.forward(self.inner.forward(x))

    def adjoint(self, y):
        return self.inner.adjoint(self.outer.adjoint(y))


class _Sum(LinearOperator):
    def __init__(self, a: LinearOperator, b: LinearOperator):
        self.a, self.b = a, b

    def forward(self, x):
        return self.a.forward(x) + self.b.forward(x)

    def adjoint(self, y):
        return self.a.adjoint(y) + self.b.adjoint(y)


class _Scaled(LinearOperator):
    def __init__(self, op: LinearOperator, scalar):
        self.op, self.scalar = op, scalar

    def forward(self, x):
        return self.scalar * self.op.forward(x)

    def adjoint(self, y):
        s = self.scalar.conjugate() if isinstance(self.scalar, complex) else self.scalar
        return s * self.op.adjoint(y)


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complex inner product <a, b> = sum(conj(a) * b)."""
    return torch.vdot(a.reshape(-1), b.reshape(-1))


def adjointness_error(op: LinearOperator, x: torch.Tensor, y: torch.Tensor) -> float:
    """Relative mismatch |<Ax, y> - <x, A^H y>| / |<Ax, y>|: the one adjointness check.

    The shapes are checked first: ``A x`` must have the shape of ``y`` and ``A^H y`` that of ``x``
    (a broadcasting operator could otherwise pass the dot-product test on the wrong shapes).
    """
    ax, ahy = op.forward(x), op.adjoint(y)
    if ax.shape != y.shape or ahy.shape != x.shape:
        raise ValueError(f"{type(op).__name__}: A x is {tuple(ax.shape)} for y {tuple(y.shape)}, "
                         f"A^H y is {tuple(ahy.shape)} for x {tuple(x.shape)}")
    lhs = dot(ax, y)
    rhs = dot(x, ahy)
    return float((lhs - rhs).abs() / lhs.abs().clamp_min(1e-30))


def power_iteration(op: LinearOperator, x0: torch.Tensor, iterations: int = 20) -> float:
    """Largest eigenvalue of a self-adjoint non-negative operator (e.g. ``A.gram``)."""
    x = x0 / torch.linalg.vector_norm(x0)
    lam = 0.0
    for _ in range(iterations):
        y = op.forward(x)
        lam = float(torch.linalg.vector_norm(y))
        if lam == 0.0:
            return 0.0
        x = y / lam
    return lam
