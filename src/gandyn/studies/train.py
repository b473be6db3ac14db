"""The training study: MLP GANs trained with several optimisers and seeds, and scored.

``gandyn train`` and the report's training section run this study.

Every optimiser updates both players simultaneously from one minibatch (SML),
on the pytree ``(θ, ω)`` with gradients ``(g_θ, −g_ω)`` (each player descends
the loss it minimises):

* ``sgd``: constant learning rate ``eta``;
* ``step-decay``: ``eta`` times ``decay_factor`` every ``decay_every`` steps;
* ``plateau``: SGD with optax's ``reduce_on_plateau`` (``eta`` times
  ``plateau_factor`` after ``plateau_patience`` evaluations without
  improvement, each the mean over ``plateau_accumulation`` steps) monitoring
  the minibatch's ``½(|g_θ|² + |g_ω|²)``, which vanishes at a stationary
  point of the game (the usual "loss" of a game: Mescheder et al. 2017);
* ``adam``: Adam with ``adam_lr``, ``β1 = adam_b1``, ``β2 = 0.999``;
* ``fdr``: SGD whose rate follows the FDR schedule,
  ``optax.chain(optax.sgd(eta), scale_by_fdr(...))``;
* ``adam-fdr``: Adam followed by the FDR schedule.

The FDR schedule (:func:`gandyn.schedules.scale_by_fdr`) tests each player
(generator, discriminator) separately, with its cycle check on unless
``fdr_cycle_check = false``; its entries report the drops, the trials of the
cycle check, the cycle verdicts and the last test per player.

Seeds vary the networks' initialisation and the minibatches; the data and
the latent set are shared. All seeds of one optimiser run as one
``vmap``-ped ``lax.scan``, evaluated at ``n_evals`` points along the way.

Scores: on the mixtures, modes covered, share of high-quality samples,
reverse KL over modes (:mod:`gandyn.analysis.sample_metrics`) and MMD to the
data; on the digits, the Fréchet distance between real and generated
samples in a fixed feature space (the first 20 principal components of the
real digits) and a classifier score ``exp E KL(p(y|x) ‖ p(y))`` from a
logistic regression trained on the real digits (an Inception-score analogue).
Each final score is given as the mean over the finite seeds with its
standard error (``std/√n``), as PacGAN reports its Table 1.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional, get_args

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import Field, model_validator

from ..analysis.sample_metrics import mixture_metrics, mmd_rbf
from ..datasets import digits, grid, ring
from ..games.mlp_gan import mlp_gan
from ..io import atomic_write_text, new_figure, save_figure, write_json
from ..schedules.fdr import find_fdr_states, scale_by_fdr
from ..schedules.rule import PHASES, verdict
from .config import StrictModel, distinct
from .executor import Executor, Task, cached_setup, default_executor
from .executor_config import ExecutorConfig
from .result import StudyResult

__all__ = ["OPTIMIZERS", "Optimizer", "TrainSettings", "TrainConfig", "TrainResult", "run",
           "write_outputs", "DigitScorer", "results_table", "plot_training", "PACGAN_GAN_TABLE1",
           "PLAYERS"]

#: The optimisers a training study compares.
Optimizer = Literal["sgd", "step-decay", "plateau", "adam", "fdr", "adam-fdr"]
#: The FDR schedule's players: θ is the generator, ω the discriminator.
PLAYERS = ("generator", "discriminator")
#: What PacGAN publishes for its GAN baseline (Lin, Khetan, Fanti & Oh, NeurIPS 2018, Table 1;
#: also results/Table1.png of github.com/fjxmlzn/PacGAN): mean ± standard error over 10 trials,
#: generator 4×400 ReLU + batch norm, discriminator 3×200 maxout (5 pieces), Adam lr 1e-4,
#: β1 0.8, batch 100, 400 epochs of 100 000 samples, 2500 samples scored.
PACGAN_GAN_TABLE1 = {
    "ring": {"modes_covered": (6.3, 0.5), "high_quality_share": (0.982, 0.002),
             "reverse_kl": (0.45, 0.09)},
    "grid": {"modes_covered": (17.3, 0.8), "high_quality_share": (0.948, 0.007),
             "reverse_kl": (0.70, 0.07)},
}
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
GANLoss = Literal["vanilla", "non-saturating", "wgan", "wgan-gp"]


class TrainSettings(StrictModel):
    dataset: Literal["ring", "grid", "digits"] = "ring"
    loss: GANLoss = "vanilla"
    optimizers: list[Optimizer] = Field(default_factory=lambda: list(OPTIMIZERS), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    steps: int = Field(4000, ge=1, le=10**8)
    n_evals: int = Field(8, ge=1, le=10**4)
    batch_size: int = Field(64, ge=1, le=10**6)
    eta: float = Field(0.05, gt=0, allow_inf_nan=False)
    adam_lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    adam_b1: float = Field(0.5, ge=0, lt=1)
    decay_every: int = Field(1000, ge=1, le=10**8)
    decay_factor: float = Field(0.5, gt=0, le=1)
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    plateau_patience: int = Field(5, ge=1, le=10**8)
    plateau_accumulation: int = Field(100, ge=1, le=10**8)
    fdr_epsilon: float = Field(0.1, gt=0, allow_inf_nan=False)
    fdr_delta: float = Field(0.5, gt=0, lt=1)
    fdr_test_interval: int = Field(100, ge=1, le=10**8)
    fdr_min_samples: int = Field(400, ge=20, le=10**8)
    fdr_max_window: int = Field(8000, ge=20, le=10**7)
    fdr_cycle_check: bool = True
    weight_decay: float = Field(1e-3, ge=0, allow_inf_nan=False)
    gp_weight: float = Field(10.0, ge=0, allow_inf_nan=False)
    latent_dim: int = Field(2, ge=1, le=10**4)
    hidden: int = Field(64, ge=1, le=10**5)
    depth: int = Field(2, ge=1, le=100)
    generator_hidden: Optional[int] = Field(None, ge=1, le=10**5)
    generator_depth: Optional[int] = Field(None, ge=1, le=100)
    discriminator_hidden: Optional[int] = Field(None, ge=1, le=10**5)
    discriminator_depth: Optional[int] = Field(None, ge=1, le=100)
    n_data: int = Field(2048, ge=2, le=10**7)
    n_latent: int = Field(2048, ge=1, le=10**7)
    data_seed: int = 0
    eval_samples: int = Field(2000, ge=10, le=10**7)

    @model_validator(mode="after")
    def _checks(self):
        distinct(self.seeds, "seeds")
        distinct(self.optimizers, "optimizers")
        if self.n_evals > self.steps:
            raise ValueError(f"n_evals ({self.n_evals}) must not exceed steps ({self.steps})")
        if self.fdr_max_window < self.fdr_min_samples:
            raise ValueError(f"fdr_max_window ({self.fdr_max_window}) must be at least "
                             f"fdr_min_samples ({self.fdr_min_samples})")
        return self


class TrainConfig(StrictModel):
    train: TrainSettings
    # Where the tasks run; never part of the numbers, so left out of dumps.
    executor: Optional[ExecutorConfig] = Field(None, exclude=True)


class DigitScorer:
    """Fixed feature space and classifier for scoring generated digits."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, n_components: int = 20):
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        self.images = images
        self.pca = PCA(n_components=n_components, random_state=0).fit(images)
        self.clf = LogisticRegression(max_iter=2000).fit(images, labels)
        f = self.pca.transform(images)
        self.mu, self.cov = f.mean(0), np.cov(f.T)

    def frechet(self, samples: np.ndarray) -> float:
        from scipy.linalg import sqrtm

        f = self.pca.transform(samples)
        mu, cov = f.mean(0), np.cov(f.T)
        covmean = sqrtm(self.cov @ cov).real
        return float(np.sum((self.mu - mu) ** 2) + np.trace(self.cov + cov - 2 * covmean))

    def classifier_score(self, samples: np.ndarray) -> float:
        p = np.clip(self.clf.predict_proba(samples), 1e-12, 1)
        marginal = p.mean(0)
        return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))

    def scores(self, samples: np.ndarray) -> dict:
        ok = np.all(np.isfinite(samples), axis=1)
        if ok.sum() < 3:
            return {"frechet_pca": float("inf"), "classifier_score": 1.0}
        s = np.clip(samples[ok], -1.5, 1.5)
        return {"frechet_pca": self.frechet(s), "classifier_score": self.classifier_score(s)}


def _optimizer(name: str, cfg: dict) -> optax.GradientTransformation:
    def fdr():
        return scale_by_fdr(cfg["fdr_delta"], cfg["fdr_epsilon"],
                            test_interval=cfg["fdr_test_interval"],
                            min_samples=cfg["fdr_min_samples"], max_window=cfg["fdr_max_window"],
                            cycle_check=cfg["fdr_cycle_check"], players=PLAYERS)

    def adam():
        return optax.adam(cfg["adam_lr"], b1=cfg["adam_b1"], b2=0.999)

    if name == "sgd":
        return optax.sgd(cfg["eta"])
    if name == "step-decay":
        return optax.sgd(optax.exponential_decay(cfg["eta"], cfg["decay_every"], cfg["decay_factor"],
                                                 staircase=True))
    if name == "plateau":
        return optax.chain(optax.sgd(cfg["eta"]), optax.contrib.reduce_on_plateau(
            factor=cfg["plateau_factor"], patience=cfg["plateau_patience"],
            accumulation_size=cfg["plateau_accumulation"]))
    if name == "adam":
        return adam()
    if name == "fdr":
        return optax.chain(optax.sgd(cfg["eta"]), fdr())
    if name == "adam-fdr":
        return optax.chain(adam(), fdr())
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _current_eta(name: str, state, cfg: dict, step: int) -> float:
    """The learning rate in force after ``step`` steps (for one seed's state)."""
    if name == "step-decay":
        return cfg["eta"] * cfg["decay_factor"] ** (step // cfg["decay_every"])
    base = cfg["adam_lr"] if name in ("adam", "adam-fdr") else cfg["eta"]
    if name in ("plateau", "fdr", "adam-fdr"):
        return base * float(optax.tree_utils.tree_get(state, "scale"))
    return base


def _fdr_report(state, n_seeds: int) -> dict:
    """The FDR schedule's statistics per seed (from the batched optimiser state)."""
    [(_, rule)] = find_fdr_states(state)
    per_seed = [jax.tree_util.tree_map(lambda a, i=i: np.asarray(a)[i], rule)
                for i in range(n_seeds)]
    players = {}
    for name in PLAYERS:
        p = rule.players[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.asarray(p.spread_after) / np.asarray(p.spread_before)
        players[name] = {"ratio": _floats(p.ratio), "ci_low": _floats(p.ci_low),
                         "ci_high": _floats(p.ci_high), "passed": [bool(x) for x in
                                                                   np.asarray(p.passed)],
                         "spread_ratio": _floats(spread)}

    def farthest(i):  # the player whose last test is farthest from 1 decides the drop
        return max(PLAYERS, key=lambda n: abs(players[n]["ratio"][i] - 1)
                   if math.isfinite(players[n]["ratio"][i]) else -1.0)

    worst = [farthest(i) for i in range(n_seeds)]
    return {"n_drops": [int(x) for x in np.asarray(rule.n_drops)],
            "n_trials": [int(x) for x in np.asarray(rule.n_trials)],
            "cycle": [bool(x) for x in np.asarray(rule.cycle)],
            "fdr_phase": [PHASES[int(x)] for x in np.asarray(rule.phase)],
            "fdr_last_ratio": [players[w]["ratio"][i] for i, w in enumerate(worst)],
            "fdr_last_ci": [[players[w]["ci_low"][i], players[w]["ci_high"][i]]
                            for i, w in enumerate(worst)],
            "fdr_players": players,
            "fdr_verdict": [verdict(r) for r in per_seed]}


def _floats(values) -> list:
    return [float(x) for x in np.asarray(values)]


@dataclass(repr=False)
class TrainResult(StudyResult):
    """Scores per optimiser and seed along training (the ``train`` JSON contract)."""

    dataset: str
    loss: str
    steps: int
    batch_size: int
    results: list
    elapsed_s: float
    config: dict
    executor: dict = field(default_factory=lambda: {"kind": "local"})
    out: Optional[str] = None
    files: Optional[list] = None

    def to_json(self) -> dict:
        data = {"dataset": self.dataset, "loss": self.loss, "steps": self.steps,
                "batch_size": self.batch_size, "results": self.results,
                "elapsed_s": self.elapsed_s, "config": self.config}
        return {**data, "table_markdown": results_table(data), "executor": self.executor,
                "out": self.out, "files": self.files}

    def rows(self) -> list[dict]:
        rows = []
        for r in self.results:
            for point in r["curve"]:
                for seed, scores in zip(r["seeds"], point["per_seed"]):
                    rows.append({"optimizer": r["optimizer"], "seed": seed,
                                 "step": point["step"], **scores})
        return rows

    def summary(self) -> str:
        return (f"training study: {self.dataset} ({self.loss}), {self.steps} steps, "
                f"B = {self.batch_size}\n" + results_table(self.to_json()))

    __str__ = summary


def run(config: TrainConfig, *, executor: Optional[Executor] = None,
        progress: Optional[Callable[[str, int, int], None]] = None) -> TrainResult:
    """Run the training study: one task per optimiser, its seeds as one vmapped run.

    A task is the configuration and the optimiser's name; it builds the data,
    the networks and the scorer where it runs (once per process), so any
    ``executor`` gives the same numbers. ``progress(optimiser, done, total)``
    is called as each optimiser finishes.
    """
    executor = default_executor(executor)
    cfg = config.train.model_dump()
    started = time.perf_counter()
    data = config.model_dump(mode="json")
    n_evals = max(1, cfg["n_evals"])
    segment = max(1, cfg["steps"] // n_evals)
    tasks = [Task(f"optimizer-{name}", _train_optimizer, (data, name), name)
             for name in cfg["optimizers"]]

    def finished(task, entry):
        if progress is not None:
            progress(task.label, n_evals, n_evals)

    results = executor.map(tasks, finished)
    return TrainResult(dataset=cfg["dataset"], loss=cfg["loss"], steps=segment * n_evals,
                       batch_size=cfg["batch_size"], results=results,
                       elapsed_s=time.perf_counter() - started, config=cfg,
                       executor=executor.to_json())


@cached_setup
def _train_setup(data: dict) -> dict:
    """The data, the game, every seed's initial networks, the evaluation latents and the scorer.

    Built from the configuration (a dict) once per process and shared by the
    tasks of that process (:func:`_train_optimizer`).
    """
    cfg = TrainConfig.model_validate(data).train.model_dump()
    dataset = cfg["dataset"]
    if dataset == "digits":
        images, labels = digits()
        rng = np.random.default_rng(cfg["data_seed"])
        samples = images[rng.permutation(len(images))[: cfg["n_data"]]]
        scorer = DigitScorer(images, labels)
        mixture = None
    else:
        mixture = ring(cfg["n_data"], cfg["data_seed"]) if dataset == "ring" else grid(
            cfg["n_data"], cfg["data_seed"])
        samples = mixture.samples
        scorer = None
    sizes = {k: cfg[k] for k in ("generator_hidden", "generator_depth", "discriminator_hidden",
                                 "discriminator_depth")}
    build = lambda seed: mlp_gan(samples, latent_dim=cfg["latent_dim"], hidden=cfg["hidden"],
                                 depth=cfg["depth"], loss=cfg["loss"], gp_weight=cfg["gp_weight"],
                                 weight_decay=cfg["weight_decay"], n_latent=cfg["n_latent"],
                                 seed=seed, **sizes)
    gan = build(cfg["data_seed"])
    inits = [build(s).game for s in cfg["seeds"]]
    return {"cfg": cfg, "gan": gan, "scorer": scorer, "mixture": mixture,
            "theta0": jnp.stack([g.theta0 for g in inits]),
            "omega0": jnp.stack([g.omega0 for g in inits]),
            "z_eval": jax.random.normal(jax.random.key(12345),
                                        (cfg["eval_samples"], cfg["latent_dim"]))}


def _train_optimizer(data: dict, name: str) -> dict:
    """One task: train every seed with the optimiser ``name`` and score them along the way."""
    setup = _train_setup(data)
    cfg, gan, scorer, mixture = setup["cfg"], setup["gan"], setup["scorer"], setup["mixture"]
    game = gan.game
    seeds = list(cfg["seeds"])
    n_evals = max(1, cfg["n_evals"])
    segment = max(1, cfg["steps"] // n_evals)
    B = cfg["batch_size"]

    generate = gan.generate  # compiled once per architecture, shared by every task and call

    def score(theta):
        samples = np.asarray(generate(theta, setup["z_eval"]))
        if scorer is not None:
            return scorer.scores(samples)
        finite = np.all(np.isfinite(samples), axis=1)
        out = mixture_metrics(samples, mixture)
        out["mmd"] = (mmd_rbf(samples[finite][:1000], mixture.samples[:1000], bandwidth=0.5)
                      if finite.sum() >= 2 else float("inf"))
        return out

    opt = _optimizer(name, cfg)

    def run_segment(params, state, key, start):
        def step(carry, t):
            params, state = carry
            th, om = params
            g_th, g_om = game.batch_gradients(th, om, game.sample_indices(
                jax.random.fold_in(key, start + t), B))
            # reduce_on_plateau watches the minibatch's ½|g|² (0 at a stationary point)
            extra = ({"value": 0.5 * (g_th @ g_th + g_om @ g_om)} if name == "plateau"
                     else {})
            updates, state = opt.update((g_th, -g_om), state, params, **extra)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, state), jnp.arange(segment))
        return params, state

    run = jax.jit(jax.vmap(run_segment, in_axes=(0, 0, 0, None)))
    params = (setup["theta0"], setup["omega0"])
    state = jax.vmap(opt.init)(params)
    keys = jax.vmap(lambda s: jax.random.key(s))(jnp.asarray(seeds))
    curve = []
    for k in range(n_evals):
        params, state = run(params, state, keys, k * segment)
        step_done = (k + 1) * segment
        per_seed = []
        for i in range(len(seeds)):
            theta_i = params[0][i]
            m = score(theta_i)
            m["eta"] = _current_eta(name, jax.tree_util.tree_map(lambda a: a[i], state), cfg,
                                    step_done)
            per_seed.append(m)
        curve.append({"step": step_done, "per_seed": per_seed})
    final = curve[-1]["per_seed"]
    keys_m = [k for k in final[0] if k not in ("eta", "n_modes")]
    summary = {}
    for key_m in keys_m:
        vals = np.array([m[key_m] for m in final], dtype=float)
        good = vals[np.isfinite(vals)]
        std = float(np.std(good, ddof=1)) if good.size > 1 else 0.0
        summary[key_m] = {
            "mean": float(np.mean(good)) if good.size else float("inf"),
            "std": std, "se": std / math.sqrt(good.size) if good.size else 0.0,
            "n_infinite": int(vals.size - good.size)}
    entry = {"optimizer": name, "seeds": seeds, "final": summary, "final_per_seed": final,
             "curve": curve,
             "final_eta": [m["eta"] for m in final],
             "diverged_seeds": int(sum(not np.all(np.isfinite(np.asarray(params[0][i])))
                                      for i in range(len(seeds))))}
    if name in ("fdr", "adam-fdr"):  # what the schedule saw and decided, per seed
        entry.update(_fdr_report(state, len(seeds)))
    return entry


def results_table(result: dict, reference: Optional[dict] = None) -> str:
    """A Markdown table of the final scores: mean ± standard error over the finite seeds.

    ``reference`` (``{metric: (mean, se)}``, e.g. ``PACGAN_GAN_TABLE1["ring"]``)
    adds a row of published numbers, ``—`` where a metric is not published.
    """
    metrics = [k for k in result["results"][0]["final"]]
    lines = ["| optimizer | " + " | ".join(metrics) + " | final η |",
             "|---|" + "---|" * (len(metrics) + 1)]
    for r in result["results"]:
        cells = []
        n = len(r["seeds"])
        for m in metrics:
            v = r["final"][m]
            mean = v["mean"]
            if mean is None or not math.isfinite(mean):
                text = f"∞ (all {n} seeds)"
            else:
                se = v.get("se", v["std"] / math.sqrt(max(n - v["n_infinite"], 1)))
                text = f"{mean:.3g} ± {se:.2g}" + (
                    f" ({v['n_infinite']} of {n} seeds ∞)" if v["n_infinite"] else "")
            cells.append(text)
        lines.append(f"| {r['optimizer']} | " + " | ".join(cells) + f" | {_etas(r['final_eta'])} |")
    if reference:
        cells = [f"{reference[m][0]:.3g} ± {reference[m][1]:.2g}" if m in reference else "—"
                 for m in metrics]
        lines.append("| PacGAN's GAN (published) | " + " | ".join(cells) + " | Adam 1e-4 |")
    return "\n".join(lines)


def _etas(etas: list) -> str:
    """The final rates of the seeds: all of them when few distinct, else their range."""
    distinct = sorted(set(float(f"{e:.3g}") for e in etas))
    if len(distinct) <= 3:
        return ", ".join(f"{e:.3g}" for e in distinct)
    return f"{distinct[0]:.3g} … {distinct[-1]:.3g}"


def plot_training(result: dict, mixture_samples: Optional[np.ndarray] = None):
    """Metric curves over training, one panel per metric, mean over the finite seeds per optimiser.

    Each optimiser has its own line style and marker, drawn in order with
    shrinking width, so curves that coincide (the FDR schedule before it
    first lowers η is constant-rate SGD) stay visible one over the other.
    Points where some seeds are infinite are ringed (the mean is over the
    others); where every seed is infinite a hollow triangle sits at the top
    edge. The legend says so.
    """
    metrics = [k for k in result["results"][0]["final"]]
    fig = new_figure(figsize=(3.2 * len(metrics), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "v"), ("--", "P")]
    any_infinite = False
    for i, r in enumerate(result["results"]):
        steps = [c["step"] for c in r["curve"]]
        line, marker = styles[i % len(styles)]
        for ax, m in zip(axes, metrics):
            vals = np.array([[np.nan if s[m] is None else s[m] for s in c["per_seed"]]
                             for c in r["curve"]], dtype=float)
            infinite = ~np.isfinite(vals)
            vals[infinite] = np.nan
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all seeds infinite at a point
                mean = np.nanmean(vals, axis=1)
            ax.plot(steps, mean, ls=line, marker=marker, ms=max(7 - i, 2), lw=max(2.4 - 0.35 * i, 0.6),
                    color=f"C{i}", label=r["optimizer"], zorder=2 + i)
            all_seeds = infinite.all(axis=1)
            some = infinite.any(axis=1) & ~all_seeds
            if some.any():  # a mean over the finite seeds only: ring it
                any_infinite = True
                ax.plot(np.asarray(steps)[some], mean[some], "o", ms=12, mfc="none",
                        color=f"C{i}", zorder=2 + i)
            if all_seeds.any():  # no finite seed: an arrow at the top edge, not a fake value
                any_infinite = True
                ax.plot(np.asarray(steps)[all_seeds], np.full(all_seeds.sum(), 0.97), "^",
                        ms=9, mfc="none", color=f"C{i}", transform=ax.get_xaxis_transform(),
                        clip_on=False, zorder=2 + i)
    for ax, m in zip(axes, metrics):
        ax.set_title(m)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    note = (" (ringed: some seeds infinite, mean over the others; ▲ at the top: every seed "
            "infinite)" if any_infinite else "")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               bbox_to_anchor=(0.5, -0.02), title=f"mean over seeds{note}", title_fontsize=8)
    fig.suptitle(f"{result['dataset']} ({result['loss']})")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def write_outputs(result: TrainResult, out_dir: Path) -> list[str]:
    """The training curves (PNG, SVG), the table as Markdown and the result as JSON."""
    out_dir = Path(out_dir)
    data = result.to_json()
    files = save_figure(plot_training(data), out_dir, "training")
    files.append(str(atomic_write_text(out_dir / "training_table.md",
                                       data["table_markdown"] + "\n")))
    files.append(str(out_dir / "training.json"))
    result.out, result.files = str(out_dir), files
    write_json(out_dir / "training.json", result.to_json())
    return files
