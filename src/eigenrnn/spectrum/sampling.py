"""Sampling eigenvalues from a spectrum and building real matrices that have exactly them."""

from __future__ import annotations

import math

import torch

from eigenrnn.errors import bad_value
from eigenrnn.spectrum.laws import AnySpectrum, Spectrum, SpectrumMixture, check_size, check_spectrum


def check_generator(generator: torch.Generator | None, device: torch.device | str, argument: str = "generator") -> None:
    """Raise ValueError if ``generator`` lives on another device type than ``device``."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(bad_value(argument, type(generator).__name__, "a torch.Generator or None"))
    target = torch.device(device)
    if generator.device.type != target.type:
        raise ValueError(
            bad_value(argument, f"a generator on {generator.device}", f"a generator on the tensor's device type '{target.type}'")
        )


def _count_real(n: int, real_fraction: float) -> int:
    """Number of real eigenvalues: round(real_fraction * n), nudged so n - k is even."""
    n_real = int(round(real_fraction * n))
    if (n - n_real) % 2:
        n_real = n_real + 1 if n_real < n else n_real - 1
    return n_real


def _sample_moduli(count: int, spectrum: Spectrum, generator, device) -> torch.Tensor:
    u = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
    r_min, r_max = spectrum.radius
    if spectrum.distribution == "ring":
        return torch.sqrt(u * (r_max**2 - r_min**2) + r_min**2)
    if spectrum.distribution == "timescale":
        t_min, t_max = spectrum.tau
        tau = t_min * (t_max / t_min) ** u  # log-uniform
        return torch.exp(-1.0 / tau)
    return r_min + u * (r_max - r_min)


def _sample_parts(n: int, spectrum: AnySpectrum, generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample (real eigenvalues, pair moduli, pair phases) in float64; a mixture's components in order."""
    if isinstance(spectrum, SpectrumMixture):
        parts = [
            _sample_parts(count, spec, generator, device)
            for count, (_, spec) in zip(spectrum.counts(n), spectrum.components)
            if count
        ]
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
    n_real = _count_real(n, spectrum.real_fraction)
    n_pairs = (n - n_real) // 2
    real_values = _sample_moduli(n_real, spectrum, generator, device)
    if spectrum.max_phase >= math.pi and n_real:
        signs = torch.randint(0, 2, (n_real,), generator=generator, device=device).to(torch.float64) * 2 - 1
        real_values = real_values * signs
    pair_moduli = _sample_moduli(n_pairs, spectrum, generator, device)
    pair_phases = torch.rand(n_pairs, generator=generator, dtype=torch.float64, device=device) * spectrum.max_phase
    return real_values, pair_moduli, pair_phases


def _eigenvalues_from_parts(real_values, pair_moduli, pair_phases) -> torch.Tensor:
    upper = torch.polar(pair_moduli, pair_phases)
    pairs = torch.stack([upper, upper.conj()], dim=1).reshape(-1)
    return torch.cat([real_values.to(torch.complex128), pairs])


def sample_eigenvalues(
    n: int,
    spectrum: AnySpectrum,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample the ``n`` eigenvalues that :func:`spectral_matrix` would place.

    With the same generator state, ``spectral_matrix(n, spectrum, generator=g)``
    has exactly these eigenvalues: real ones first, then conjugate pairs
    ``(r e^{i theta}, r e^{-i theta})``.

    Args:
        n: matrix size.
        spectrum: the :class:`Spectrum` (or :class:`SpectrumMixture`) to sample from.
        generator: source of randomness (defaults to torch's global RNG).
        device: where to sample (defaults to the generator's device, else CPU).

    Returns:
        complex128 tensor of shape ``(n,)``.

    >>> lam = sample_eigenvalues(6, Spectrum(radius=(0.9, 0.9)), torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(lam.abs(), torch.full((6,), 0.9, dtype=torch.float64)))
    True
    """
    n = check_size(n)
    check_spectrum(spectrum)
    device = torch.device(device) if device is not None else (generator.device if generator is not None else torch.device("cpu"))
    check_generator(generator, device)
    return _eigenvalues_from_parts(*_sample_parts(n, spectrum, generator, device))


def _random_orthogonal(n: int, generator, dtype, device) -> torch.Tensor:
    """Haar-distributed orthogonal matrix (QR of a Gaussian with sign correction)."""
    a = torch.randn(n, n, generator=generator, dtype=dtype, device=device)
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def _right_multiply_block_diagonal(v: torch.Tensor, real_values, pair_moduli, pair_phases) -> torch.Tensor:
    """Return ``V @ D`` for the real block-diagonal D in O(n^2), without forming D."""
    n_real = real_values.numel()
    dtype = v.dtype
    out = torch.empty_like(v)
    out[:, :n_real] = v[:, :n_real] * real_values.to(dtype)
    # Block [[a, -b], [b, a]] with a = r cos(theta), b = r sin(theta): its
    # eigenvalues are r e^{+-i theta}.
    a = (pair_moduli * torch.cos(pair_phases)).to(dtype)
    b = (pair_moduli * torch.sin(pair_phases)).to(dtype)
    first = v[:, n_real::2]
    second = v[:, n_real + 1 :: 2]
    out[:, n_real::2] = first * a + second * b
    out[:, n_real + 1 :: 2] = -first * b + second * a
    return out


def spectral_matrix(
    n: int,
    spectrum: AnySpectrum,
    *,
    nonnormality: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Return a real ``n x n`` matrix whose eigenvalues are exactly a sample of ``spectrum``.

    .. math::
        W = V D V^{-1}, \qquad D = \mathrm{blockdiag}(\lambda_1, \dots, \lambda_k,
        R_1, \dots, R_m), \quad R_j = r_j \begin{pmatrix}\cos\theta_j & -\sin\theta_j\\
        \sin\theta_j & \cos\theta_j\end{pmatrix}

    ``D`` is real block-diagonal (1x1 real eigenvalues, 2x2 rotation-scaling
    blocks for conjugate pairs).  ``V = Q`` is Haar-orthogonal, so ``W`` is
    normal; with ``nonnormality = eps > 0``, ``V = Q (I + eps U)`` where ``U`` is
    strictly upper-triangular with i.i.d. ``N(0, 1/n)`` entries (the ``1/n``
    keeps ``eps`` comparable across sizes).  That keeps the spectrum and adds a
    controlled departure from normality (transient amplification).

    Args:
        n: matrix size.
        spectrum: the :class:`Spectrum` (or :class:`SpectrumMixture`) to sample eigenvalues from.
        nonnormality: ``eps >= 0``.
        generator: source of randomness; must be on ``device``.
        dtype: floating dtype of the result (default: torch's default dtype).
            Sampling and the orthogonal factor are computed in this dtype, so a
            float32 result has eigenvalues accurate to about 1e-5.
        device: device of the result (default: the generator's, else CPU).

    Returns:
        Tensor of shape ``(n, n)``; its eigenvalues are
        ``sample_eigenvalues(n, spectrum, generator)`` drawn from the same
        generator state.

    >>> g = torch.Generator().manual_seed(0)
    >>> W = spectral_matrix(64, Spectrum(radius=(0.5, 0.9)), generator=g, dtype=torch.float64)
    >>> float(torch.linalg.eigvals(W).abs().max()) <= 0.9 + 1e-9
    True
    """
    n = check_size(n)
    check_spectrum(spectrum)
    nonnormality = float(nonnormality)
    if not (nonnormality >= 0.0 and math.isfinite(nonnormality)):
        raise ValueError(bad_value("nonnormality", nonnormality, "a finite number >= 0"))
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(bad_value("dtype", dtype, "a real floating dtype"))
    device = torch.device(device) if device is not None else (generator.device if generator is not None else torch.device("cpu"))
    check_generator(generator, device)

    parts = _sample_parts(n, spectrum, generator, device)
    compute_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    q = _random_orthogonal(n, generator, compute_dtype, device)
    if nonnormality == 0.0:
        w = _right_multiply_block_diagonal(q, *parts) @ q.T
    else:
        u = torch.randn(n, n, generator=generator, dtype=compute_dtype, device=device).triu(1) / math.sqrt(n)
        v = q @ (torch.eye(n, dtype=compute_dtype, device=device) + nonnormality * u)
        vd = _right_multiply_block_diagonal(v, *parts)
        # W = V D V^{-1}  <=>  W V = V D  <=>  V^T W^T = (V D)^T
        w = torch.linalg.solve(v.T, vd.T).T
    if not bool(torch.isfinite(w).all()):
        # V = Q (I + eps U) is too ill-conditioned to invert in this dtype.
        raise ValueError(bad_value("nonnormality", nonnormality, f"a smaller value: V D V^-1 is not finite in {compute_dtype} at n={n}"))
    return w.to(dtype)
