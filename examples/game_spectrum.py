"""Local stability of a game from the spectrum of its mean update map.

One full-batch SGA step is a map ``u ↦ F(u)`` of the joint state ``u = (θ, ω)``.
Near a stationary point ``u*`` the iterates converge when every eigenvalue of the
Jacobian ``∂F/∂u(u*)`` lies inside the unit circle, at rate ``−ln ρ`` per step
(ρ the spectral radius; docs/spectrum.md). This script shows

1. the Dirac-GAN (WGAN loss, discriminator weight decay γ) at its equilibrium
   θ = ω = 0: the ALT and SML spectra at one step size η, and the largest
   stable η of each scheme beside its closed form (SML: γ; ALT: √(γ² + 4) − γ);
2. an MLP GAN with a few hundred parameters: the leading eigenvalues from
   Arnoldi iterations (Jacobian-vector products only: what you use when the
   dense Jacobian is too big to form) beside those of the dense Jacobian.

Run: python examples/game_spectrum.py [--gamma G] [--eta E] [--hidden H] [--depth D] [--k K] [--out DIR]

    python examples/game_spectrum.py                       # γ = 0.3, η = 0.5, 16 hidden units
    python examples/game_spectrum.py --out results/spectrum  # also the plots and game_spectrum.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax

# The closed forms are checked to ~1e-9, and eigenvalues near the unit circle decide stability:
# float32 is not enough for either.
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gandyn.analysis import largest_stable_eta, plot_spectrum, update_spectrum  # noqa: E402
from gandyn.datasets import ring  # noqa: E402
from gandyn.games import dirac_gan, mlp_gan  # noqa: E402
from gandyn.sde.coefficients import b0  # noqa: E402

SCHEMES = ("alt", "sml")


def dirac_closed_forms(gamma: float, eta: float) -> dict:
    """The Dirac-GAN's update matrices and largest stable η, by hand (module docstring of
    gandyn.analysis.game_spectrum)."""
    return {
        "alt": {"matrix": np.array([[1 - eta**2, eta * (1 - eta * gamma)], [-eta, 1 - eta * gamma]]),
                "largest_stable_eta": math.sqrt(gamma**2 + 4) - gamma},
        "sml": {"matrix": np.eye(2) + eta * np.array([[0.0, 1.0], [-1.0, -gamma]]),
                "largest_stable_eta": gamma},
    }


def pairs(eigenvalues) -> list:
    """Complex numbers as [re, im] pairs (JSON has no complex type)."""
    return [[float(z.real), float(z.imag)] for z in np.asarray(eigenvalues)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gamma", type=float, default=0.3, help="Dirac-GAN discriminator weight decay γ > 0")
    ap.add_argument("--eta", type=float, default=0.5, help="step size of the Dirac-GAN spectra")
    ap.add_argument("--hidden", type=int, default=16, help="MLP GAN: hidden units per layer")
    ap.add_argument("--depth", type=int, default=2, help="MLP GAN: hidden layers")
    ap.add_argument("--mlp-eta", type=float, default=0.05, help="MLP GAN: step size")
    ap.add_argument("--k", type=int, default=6, help="MLP GAN: eigenvalues Arnoldi computes")
    ap.add_argument("--seed", type=int, default=0, help="MLP GAN: data, latent points and weights")
    ap.add_argument("--out", type=Path, default=None, help="directory for the plots and game_spectrum.json")
    args = ap.parse_args(argv)
    if not (args.gamma > 0 and args.eta > 0 and args.mlp_eta > 0):
        ap.error("--gamma, --eta and --mlp-eta must be positive")
    if args.hidden < 1 or args.depth < 1 or args.k < 1:
        ap.error("--hidden, --depth and --k must be positive")
    figures = {}

    # --- 1. Dirac-GAN: every number has a closed form. -----------------------------------------
    game = dirac_gan("wgan", reg=args.gamma)
    u_star = jnp.zeros(game.dim)  # the equilibrium θ = ω = 0 (a point mass on the data point 0)
    closed = dirac_closed_forms(args.gamma, args.eta)
    dirac = {"gamma": args.gamma, "eta": args.eta}
    print(f"Dirac-GAN, WGAN loss, weight decay γ = {args.gamma:g}, at θ = ω = 0")
    for scheme in SCHEMES:
        eig = update_spectrum(game, u_star, scheme, args.eta)
        rho = float(np.max(np.abs(eig)))
        # Same eigenvalues as the hand-derived matrix? Sorting both the same way pairs them up.
        by_hand = np.linalg.eigvals(closed[scheme]["matrix"])
        error = float(np.max(np.abs(np.sort_complex(eig) - np.sort_complex(by_hand))))
        # Scan step sizes for the first unstable one, then bisect it to a tight tolerance so
        # that the comparison with the closed form is about the method, not the stopping rule.
        eta_max = largest_stable_eta(game, u_star, scheme, tol=1e-10)
        eta_formula = closed[scheme]["largest_stable_eta"]
        dirac[scheme] = {"eigenvalues": pairs(eig), "spectral_radius": rho,
                         "rate_per_step": -math.log(rho), "eigenvalue_error_vs_closed_form": error,
                         "largest_stable_eta": eta_max, "largest_stable_eta_closed_form": eta_formula}
        verdict = "stable" if rho < 1 else "UNSTABLE"
        print(f"  {scheme.upper()} at η = {args.eta:g}: eigenvalues "
              + ", ".join(f"{z.real:.4f}{z.imag:+.4f}i" for z in eig)
              + f"  ρ = {rho:.4f} ({verdict}; closed form agrees to {error:.1e})")
        print(f"      largest stable η: {eta_max:.9f}   closed form {eta_formula:.9f}"
              f"   ({'√(γ²+4) − γ' if scheme == 'alt' else 'γ'})")
        figures[f"dirac_{scheme}"] = plot_spectrum(
            eig, f"Dirac-GAN {scheme.upper()}, γ = {args.gamma:g}, η = {args.eta:g}")

    # --- 2. An MLP GAN: too many eigenvalues to list, so look at the leading ones. -------------
    data = ring(n=64, seed=args.seed).samples  # the 8-Gaussian ring
    gan = mlp_gan(data, hidden=args.hidden, depth=args.depth, n_latent=64, loss="wgan",
                  weight_decay=0.1, seed=args.seed)
    game = gan.game
    # No equilibrium of this game is known in closed form, and full-batch GDA on ReLU nets with
    # weight decay settles where hidden units sit exactly on the ReLU kink (not differentiable).
    # So, as tests/test_game_spectrum.py does, linearise at the initial parameters: the spectrum
    # then says how one step stretches small perturbations there, and Arnoldi must reproduce it.
    u = game.u0
    residual = float(jnp.linalg.norm(b0(game, u)))
    if not args.k < game.dim - 1:
        ap.error(f"--k must be below {game.dim - 1} (the game's dimension minus 1)")
    mlp = {"hidden": args.hidden, "depth": args.depth, "eta": args.mlp_eta, "dim": game.dim,
           "field_norm_at_point": residual}
    print(f"\nMLP GAN (WGAN loss, weight decay 0.1) on the 8-Gaussian ring: {game.dim} parameters,"
          f" linearised at the initial parameters (|b0(u)| = {residual:.3g}: not an equilibrium)")
    for scheme in SCHEMES:
        dense = update_spectrum(game, u, scheme, args.mlp_eta)  # all game.dim eigenvalues
        arnoldi = update_spectrum(game, u, scheme, args.mlp_eta, method="arnoldi", k=args.k)
        # A complex pair has one modulus but may come out in either order: compare moduli.
        dense_mod, arnoldi_mod = np.abs(dense[:args.k]), np.sort(np.abs(arnoldi))[::-1]
        mlp[scheme] = {"dense_leading": pairs(dense[:args.k]), "arnoldi": pairs(arnoldi),
                       "dense_moduli": dense_mod.tolist(), "arnoldi_moduli": arnoldi_mod.tolist(),
                       "max_modulus_difference": float(np.max(np.abs(dense_mod - arnoldi_mod))),
                       "spectral_radius": float(dense_mod[0])}
        print(f"  {scheme.upper()} at η = {args.mlp_eta:g}: the {args.k} eigenvalues of largest modulus")
        print(f"      {'dense λ':>24} {'|λ| dense':>12} {'|λ| Arnoldi':>12}")
        for z, a in zip(dense[:args.k], arnoldi_mod):
            print(f"      {z.real:12.8f}{z.imag:+12.8f}i {abs(z):12.8f} {a:12.8f}")
        print(f"      largest difference of the moduli: {mlp[scheme]['max_modulus_difference']:.1e}")
        figures[f"mlp_{scheme}"] = plot_spectrum(
            dense, f"MLP GAN {scheme.upper()}, η = {args.mlp_eta:g} (all {game.dim})")

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            fig.savefig(args.out / f"{name}.png", dpi=120, bbox_inches="tight")
        (args.out / "game_spectrum.json").write_text(json.dumps({"dirac": dirac, "mlp": mlp}, indent=1))
        print(f"\nwrote {', '.join(f'{n}.png' for n in figures)} and game_spectrum.json to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
