"""Speed of eigenrnn.analysis against bare torch ops computing the same numbers, side by side.

1. ``project``: z = V⁻¹h and the energy per mode for a (T=784, B=256, H=256)
   trajectory of a GRU-256, against one ``torch.linalg.solve`` plus ``|z|²``.
2. ``gradient_decay_curve`` over 784 steps of a GRU-256 (batch ``--jac-batch``,
   default 4), against a raw loop: closed-form GRU Jacobian of each step,
   ``P = P @ J_t`` and ``torch.linalg.svdvals(P)``.

Target (issue 3): the analysis runs within 3x of the bare ops.  Prints each
time, the ratio, and the largest disagreement between the two results.

    python benchmarks/bench_analysis.py [--repeats 1] [--jac-batch 4] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from eigenrnn.analysis import decompose, gradient_decay_curve, project


def _best(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _bare_projection(v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    steps, batch, size = h.shape
    z = torch.linalg.solve(v.to(torch.complex64), h.reshape(-1, size).T.to(torch.complex64))
    z = z.T.reshape(steps, batch, size)
    return z, z.abs().square().mean(dim=1)


@torch.no_grad()
def _bare_gradient_decay(gru: torch.nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """log ‖J_T⋯J_{T-s+1}‖₂ per sequence, (B, T+1), by the textbook loop in float64."""
    out, _ = gru(x)
    h_prev = torch.cat([torch.zeros_like(out[:1]), out[:-1]]).double()
    w_ih, w_hh = gru.weight_ih_l0.double(), gru.weight_hh_l0.double()
    b_ih, b_hh = gru.bias_ih_l0.double(), gru.bias_hh_l0.double()
    w_r, w_z, w_n = w_hh.chunk(3)
    steps, batch, size = h_prev.shape
    product = torch.eye(size, dtype=torch.float64).expand(batch, size, size)
    logs = torch.zeros(batch, steps + 1, dtype=torch.float64)
    for t in range(steps - 1, -1, -1):
        h = h_prev[t]
        gi_r, gi_z, gi_n = (x[t].double() @ w_ih.T + b_ih).chunk(3, dim=-1)
        gh_r, gh_z, gh_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(gi_r + gh_r), torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
        a = (1 - z) * (1 - n * n)
        jac = ((h - n) * z * (1 - z))[:, :, None] * w_z + (a * r)[:, :, None] * w_n + (a * gh_n * r * (1 - r))[:, :, None] * w_r
        jac = jac + torch.diag_embed(z)
        product = product @ jac
        logs[:, steps - t] = torch.linalg.svdvals(product)[:, 0].log()
    return logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs (default 1)")
    parser.add_argument("--jac-batch", type=int, default=4, help="batch of the gradient-decay part (default 4)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # nn.GRU's own initialisation
    steps, batch, hidden = 784, 256, 256
    gru = torch.nn.GRU(1, hidden).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, repeats={args.repeats}")

    with torch.no_grad():
        h, _ = gru(torch.randn(steps, batch, 1, generator=gen))
        dec = decompose(gru.weight_hh_l0[2 * hidden :])
    t_ours, ours = _best(lambda: project(h, dec), args.repeats)
    t_bare, (z_bare, e_bare) = _best(lambda: _bare_projection(dec.eigenvectors, h), args.repeats)
    err = float((ours.energy - e_bare).abs().max() / e_bare.abs().max())
    print(f"project (T={steps}, B={batch}, H={hidden}):   analysis {t_ours:7.2f} s   bare {t_bare:7.2f} s   ratio {t_ours / t_bare:5.2f}   max rel. energy diff {err:.1e}")

    x = torch.randn(steps, args.jac_batch, 1, generator=gen)
    t_ours2, decay = _best(lambda: gradient_decay_curve(gru, x), args.repeats)
    t_bare2, logs = _best(lambda: _bare_gradient_decay(gru, x), args.repeats)
    finite = torch.isfinite(logs)
    err2 = float((decay.log_per_sequence - logs)[finite].abs().max())
    print(
        f"gradient_decay_curve (T={steps}, B={args.jac_batch}, GRU-{hidden}):   analysis {t_ours2:7.2f} s   bare {t_bare2:7.2f} s   "
        f"ratio {t_ours2 / t_bare2:5.2f}   max |Δ log g| {err2:.1e}   (g(T) ≈ {float(decay.curve[-1]):.2e})"
    )
    total_ours, total_bare = t_ours + t_ours2, t_bare + t_bare2
    print(f"total: analysis {total_ours:.2f} s, bare {total_bare:.2f} s, ratio {total_ours / total_bare:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
