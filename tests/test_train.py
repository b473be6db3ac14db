import json

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.studies.train import DigitScorer, TrainConfig, run as run_train
from gandyn.datasets import digits

SMALL = """
[train]
dataset = "{dataset}"
steps = 60
n_evals = 2
seeds = [0, 1]
hidden = 8
depth = 1
n_data = 128
n_latent = 128
eval_samples = 200
fdr_min_samples = 20
fdr_test_interval = 10
latent_dim = {latent}
"""


@pytest.mark.parametrize("dataset,latent", [("ring", 2), ("digits", 8)])
def test_train_command_contract(tmp_path, capsys, dataset, latent):
    p = tmp_path / "train.toml"
    text = SMALL.format(dataset=dataset, latent=latent)
    if dataset == "digits":  # every optimiser runs on the ring; two are enough here
        text += 'optimizers = ["plateau", "adam"]\n'
    p.write_text(text)
    assert main(["train", str(p), "--json", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    r = json.loads(capsys.readouterr().out)
    expected = (["sgd", "step-decay", "plateau", "adam", "fdr", "adam-fdr"] if dataset == "ring"
                else ["plateau", "adam"])
    assert [x["optimizer"] for x in r["results"]] == expected
    for x in r["results"]:
        assert len(x["final_per_seed"]) == 2 and len(x["curve"]) == 2
        for v in x["final"].values():  # the standard error of the mean over the finite seeds
            finite = 2 - v["n_infinite"]
            assert v["se"] == pytest.approx(v["std"] / max(finite, 1) ** 0.5)
        if x["optimizer"].endswith("fdr"):
            assert {"n_drops", "n_trials", "cycle", "fdr_phase", "fdr_last_ratio", "fdr_last_ci",
                    "fdr_verdict", "fdr_players"} <= set(x)
            assert set(x["fdr_players"]) == {"generator", "discriminator"}
            assert len(x["fdr_verdict"]) == 2 and all(isinstance(t, str) for t in x["fdr_verdict"])
    metric = "modes_covered" if dataset == "ring" else "frechet_pca"
    assert metric in r["results"][0]["final"]
    assert (tmp_path / "o" / "training.png").exists() and (tmp_path / "o" / "training_table.md").exists()


def test_constant_sgd_and_untriggered_fdr_agree_exactly():
    """Until the FDR rule drops η, FDR-SGD is SGD: same seeds, same numbers."""
    cfg = dict(dataset="ring", loss="vanilla", optimizers=["sgd", "fdr"], seeds=[0], steps=40,
               n_evals=1, batch_size=16, eta=0.05, adam_lr=1e-3, decay_every=10, decay_factor=0.5,
               fdr_epsilon=1e-9, fdr_delta=0.5, fdr_test_interval=10, fdr_min_samples=20,
               weight_decay=0.0, gp_weight=10.0, latent_dim=2, hidden=8, depth=1, n_data=64,
               n_latent=64, data_seed=0, eval_samples=100)
    r = run_train(TrainConfig(train=cfg)).to_json()
    sgd, fdr = r["results"]
    assert fdr["n_drops"] == [0]
    assert sgd["final_per_seed"][0]["mmd"] == pytest.approx(fdr["final_per_seed"][0]["mmd"], rel=1e-5)


def test_digit_scorer_prefers_real_digits():
    images, labels = digits()
    scorer = DigitScorer(images, labels)
    rng = np.random.default_rng(0)
    real = scorer.scores(images[rng.permutation(len(images))[:500]])
    noise = scorer.scores(rng.uniform(-1, 1, size=(500, 64)))
    assert real["frechet_pca"] < 0.2 * noise["frechet_pca"]
    assert real["classifier_score"] > 5 > noise["classifier_score"]


@pytest.mark.parametrize("edit,needle", [("steps = 60", "steps = 0"), ("seeds = [0, 1]", "seeds = [1, 1]"),
                                         ('dataset = "ring"', 'dataset = "cifar"'),
                                         ("fdr_min_samples = 20",
                                          "fdr_min_samples = 200\nfdr_max_window = 100"),
                                         ("hidden = 8", "generator_hidden = 0")])
def test_train_bad_config(tmp_path, capsys, edit, needle):
    p = tmp_path / "train.toml"
    p.write_text(SMALL.format(dataset="ring", latent=2).replace(edit, needle))
    assert main(["train", str(p)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
