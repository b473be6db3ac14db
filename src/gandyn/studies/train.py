"""The training study: MLP GANs trained with several optimisers and seeds, and scored.

``gandyn train`` and the report's training section run this study.

Every optimiser updates both players simultaneously from one minibatch (SML),
on the pytree ``(θ, ω)`` with gradients ``(g_θ, −g_ω)`` (each player descends
the loss it minimises):

* ``sgd``: constant learning rate ``eta``;
* ``step-decay``: ``eta`` times ``decay_factor`` every ``decay_every`` steps;
* ``adam``: Adam with ``adam_lr``, ``β1 = 0.5``, ``β2 = 0.999`` (the usual GAN setting);
* ``fdr``: SGD whose rate follows the FDR schedule (:func:`gandyn.schedules.fdr_sgd`).

Seeds vary the networks' initialisation and the minibatches; the data and
the latent set are shared. All seeds of one optimiser run as one
``vmap``-ped ``lax.scan``, evaluated at ``n_evals`` points along the way.

Scores: on the mixtures, modes covered, share of high-quality samples,
reverse KL over modes (:mod:`gandyn.analysis.sample_metrics`) and MMD to the
data; on the digits, the Fréchet distance between real and generated
samples in a fixed feature space (the first 20 principal components of the
real digits) and a classifier score ``exp E KL(p(y|x) ‖ p(y))`` from a
logistic regression trained on the real digits (an Inception-score analogue).
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
from ..schedules.fdr import FDRRuleConfig, fdr_sgd
from .config import StrictModel
from .executor import Executor, Task, cached_setup, default_executor
from .executor_config import ExecutorConfig
from .result import StudyResult

__all__ = ["OPTIMIZERS", "Optimizer", "TrainSettings", "TrainConfig", "TrainResult", "run",
           "write_outputs", "DigitScorer", "results_table", "plot_training"]

#: The optimisers a training study compares.
Optimizer = Literal["sgd", "step-decay", "adam", "fdr"]
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
    decay_every: int = Field(1000, ge=1, le=10**8)
    decay_factor: float = Field(0.5, gt=0, le=1)
    fdr_epsilon: float = Field(0.1, gt=0, allow_inf_nan=False)
    fdr_delta: float = Field(0.5, gt=0, lt=1)
    fdr_test_interval: int = Field(100, ge=1, le=10**8)
    fdr_min_samples: int = Field(400, ge=20, le=10**8)
    weight_decay: float = Field(1e-3, ge=0, allow_inf_nan=False)
    gp_weight: float = Field(10.0, ge=0, allow_inf_nan=False)
    latent_dim: int = Field(2, ge=1, le=10**4)
    hidden: int = Field(64, ge=1, le=10**5)
    depth: int = Field(2, ge=1, le=100)
    n_data: int = Field(2048, ge=2, le=10**7)
    n_latent: int = Field(2048, ge=1, le=10**7)
    data_seed: int = 0
    eval_samples: int = Field(2000, ge=10, le=10**7)

    @model_validator(mode="after")
    def _checks(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ValueError("optimizers must be distinct")
        if self.n_evals > self.steps:
            raise ValueError(f"n_evals ({self.n_evals}) must not exceed steps ({self.steps})")
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
    if name == "sgd":
        return optax.sgd(cfg["eta"])
    if name == "step-decay":
        return optax.sgd(optax.exponential_decay(cfg["eta"], cfg["decay_every"], cfg["decay_factor"],
                                                 staircase=True))
    if name == "adam":
        return optax.adam(cfg["adam_lr"], b1=0.5, b2=0.999)
    if name == "fdr":
        return fdr_sgd(FDRRuleConfig(eta0=cfg["eta"], delta=cfg["fdr_delta"],
                                     epsilon=cfg["fdr_epsilon"], test_interval=cfg["fdr_test_interval"],
                                     min_samples=cfg["fdr_min_samples"]))
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def _current_eta(name: str, state, cfg: dict, step: int) -> float:
    if name == "fdr":
        return float(state.rule.eta)
    if name == "step-decay":
        return cfg["eta"] * cfg["decay_factor"] ** (step // cfg["decay_every"])
    return cfg["eta"] if name == "sgd" else cfg["adam_lr"]


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
    build = lambda seed: mlp_gan(samples, latent_dim=cfg["latent_dim"], hidden=cfg["hidden"],
                                 depth=cfg["depth"], loss=cfg["loss"], gp_weight=cfg["gp_weight"],
                                 weight_decay=cfg["weight_decay"], n_latent=cfg["n_latent"],
                                 seed=seed)
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

    def score(theta):
        samples = np.asarray(gan.generate(theta, setup["z_eval"]))
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
            updates, state = opt.update((g_th, -g_om), state, params)
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
        summary[key_m] = {
            "mean": float(np.mean(good)) if good.size else float("inf"),
            "std": float(np.std(good, ddof=1)) if good.size > 1 else 0.0,
            "n_infinite": int(vals.size - good.size)}
    entry = {"optimizer": name, "seeds": seeds, "final": summary, "final_per_seed": final,
             "curve": curve,
             "final_eta": [m["eta"] for m in final],
             "diverged_seeds": int(sum(not np.all(np.isfinite(np.asarray(params[0][i])))
                                      for i in range(len(seeds))))}
    if name == "fdr":  # the logged statistic: mean O_L / mean O_R and the test's interval
        entry["n_drops"] = [int(x) for x in np.asarray(state.rule.n_drops)]
        entry["fdr_last_ratio"] = [float(x) for x in np.asarray(state.rule.last_ratio)]
        entry["fdr_last_ci"] = np.asarray(state.rule.last_ci).tolist()
    return entry


def results_table(result: dict) -> str:
    """A Markdown table of the final scores: mean ± std over the finite seeds, and their count."""
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
                text = f"{mean:.3g} ± {v['std']:.2g}" + (
                    f" ({v['n_infinite']} of {n} seeds ∞)" if v["n_infinite"] else f" ({n} seeds)")
            cells.append(text)
        etas = ", ".join(f"{e:.3g}" for e in r["final_eta"])
        lines.append(f"| {r['optimizer']} | " + " | ".join(cells) + f" | {etas} |")
    return "\n".join(lines)


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
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
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
            ax.plot(steps, mean, ls=line, marker=marker, ms=7 - 1.5 * i, lw=2.4 - 0.5 * i,
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
