"""``gandyn report``: the quick built-in report, strict config validation, failing sections.

The last part opens the quick report in headless Chromium: every image decodes, no console
errors. It needs Debian's ``chromium`` package at ``/usr/bin/chromium`` (CI installs it); with
``GANDYN_UPDATE_FIGURES=1`` the screenshot of the page's top is also written to
``docs/figures/report.png``. Those tests live here, in the file that builds the report, so that
pytest-xdist runs them on the worker that built it instead of leaving the other waiting.
"""

import base64
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from gandyn.cli import main
from gandyn.report.sections import INVARIANT_STUDY, train_study_config, weak_order_study_config
from gandyn.report.toml_text import dumps_toml
from gandyn.report.config import load_report_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTION_FILES = {
    "weak_order": ["config.toml", "weak_order.csv", "weak_order.json", "weak_order.png"],
    "invariant": ["config.toml", "invariant.json", "fdr.png"],
    "kernel": ["spectrum/spectrum.json", "spectrum/spectrum.png", "phase-theorem/phase.csv",
               "phase-theorem/phase_theorem_joint.png", "phase-paper-figure/phase.csv",
               "phase-paper-figure/phase_paper-figure_joint.png", "convergence/convergence.json",
               "convergence/convergence.png"],
    "train": ["config.toml", "training.json", "training.png", "training_table.md"],
}


def _images(page: str) -> list[bytes]:
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)
    assert len(sources) == len(re.findall(r"<img\b", page))
    decoded = []
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        decoded.append(base64.b64decode(src.split(",", 1)[1], validate=True))
    return decoded


def test_quick_report_exit_status_json_and_progress(quick_report):
    proc, out = quick_report
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    printed = json.loads(lines[0])
    assert set(printed) >= {"out", "html", "sections", "versions", "seconds"}
    assert Path(printed["html"]) == out / "report.html"
    assert set(printed["versions"]) >= {"python", "gandyn", "jax", "jaxlib", "numpy", "equinox",
                                        "optax"}
    assert [s["name"] for s in printed["sections"]] == ["weak_order", "invariant", "kernel", "train"]
    for s in printed["sections"]:
        assert s["status"] == "ok" and s["error"] is None and s["seconds"] > 0
        assert f"{s['name']}: started" in proc.stderr and f"{s['name']}: ok in" in proc.stderr


def test_quick_report_key_numbers(quick_report):
    proc, _ = quick_report
    sections = {s["name"]: s["summary"] for s in json.loads(proc.stdout)["sections"]}
    orders = sections["weak_order"]["orders"]
    assert set(orders) == {"ALT vs alt-sde (blockdiag)", "SML vs sml-sde (joint)"}
    assert all(isinstance(o["order_final"], float) for o in orders.values())
    assert sections["weak_order"]["paths"] == 4000
    inv = sections["invariant"]
    for name in ("fdr1", "fdr2"):  # exact, and the model's own right side holds exactly
        assert abs(inv[name]["residual_rhs_model"]) < 1e-9 * max(1.0, abs(inv[name]["lhs"]))
    spectrum = sections["kernel"]["spectrum"]  # the Corollary-1 counterexample
    assert spectrum["rho_generator"] == pytest.approx(0.9790871211463571, abs=1e-12)
    assert spectrum["eta_d_max"] == pytest.approx(0.8365151541457141, abs=1e-9)
    assert spectrum["eta_d_max_corollary1"] == pytest.approx(5.2)
    assert set(sections["kernel"]["phase"]) == {"theorem", "paper-figure"}
    for phase in sections["kernel"]["phase"].values():
        assert 0 <= phase["unstable_fraction"] <= 1 and phase["min"] >= 0
    assert set(sections["train"]["final"]) == {"sgd", "fdr"}
    assert "modes_covered" in sections["train"]["final"]["sgd"]


def test_quick_report_json_matches_printed_sections(quick_report):
    proc, out = quick_report
    printed = json.loads(proc.stdout)
    saved = json.loads((out / "report.json").read_text())
    assert saved["status"] == "ok" and saved["quick"] is True
    for p, s in zip(printed["sections"], saved["sections"], strict=True):
        assert {k: s[k] for k in p} == p
        assert s["commands"] and s["figures"] and s["tables"]
    assert saved["versions"] == printed["versions"]


def test_quick_report_html_is_self_contained_with_decodable_pngs(quick_report):
    _, out = quick_report
    page = (out / "report.html").read_text()
    saved = json.loads((out / "report.json").read_text())
    images = _images(page)
    assert len(images) == sum(len(s["figures"]) for s in saved["sections"]) == 7
    for png in images:
        assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from the network
    assert "<link" not in page and "@import" not in page and "<script src" not in page
    for anchor in re.findall(r'href="#([^"]+)"', page):  # the table of contents resolves
        assert f'id="{anchor}"' in page
    assert "document.body.dataset.imagesOk" in page
    for name in ("python", "jaxlib", "equinox", "optax"):
        assert f"<td>{name}</td>" in page


def test_quick_report_section_folders_hold_their_data(quick_report):
    _, out = quick_report
    for section, files in SECTION_FILES.items():
        for name in files:
            assert (out / section / name).is_file(), f"{section}/{name}"
    saved = json.loads((out / "report.json").read_text())
    for s in saved["sections"]:
        assert all((out / f).is_file() for f in s["files"])
    ran = json.loads((out / "weak_order" / "weak_order.json").read_text())
    assert ran["paths"] == 4000


# --------------------------------------------------------------------------- configuration

BAD_CONFIGS = {
    "unknown section name": ('[report]\nsections = ["kernel", "bogus"]\n', "report.sections"),
    "unknown section table": ("[bogus]\nx = 1\n", "unknown section [bogus]"),
    "top-level key outside a table": ('sections = ["kernel"]\n', "unknown top-level key"),
    "unknown key": ("[kernel]\nsigmaa = 1.0\n", "unknown key 'sigmaa'"),
    "wrong type": ('[report]\nseed = "0"\n', "report.seed"),
    "wrong type in a list": ("[kernel]\nparts = [1]\n", "kernel.parts"),
    "negative number": ("[kernel]\nlam = -0.1\n", "kernel.lam"),
    "bool for an integer": ("[kernel]\nphase_grid = true\n", "kernel.phase_grid"),
    "missing file": ('[weak_order]\nconfig = "missing.toml"\n', "weak_order.config"),
    "directory as section config": ('[train]\nconfig = "."\n', "train.config"),
    "invalid TOML in a section config": ('[invariant]\nconfig = "broken.toml"\n',
                                         "invariant.config"),
    "invalid TOML": ("[report\n", "invalid TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configs_exit_2_with_one_line(case, tmp_path, capsys):
    text, expected = BAD_CONFIGS[case]
    (tmp_path / "broken.toml").write_text("x = [\n")
    config = tmp_path / "report.toml"
    config.write_text(text)
    out = tmp_path / "out"
    assert main(["report", str(config), "--out", str(out), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and expected in captured.err, captured.err
    assert not out.exists()


@pytest.mark.parametrize("which", ["directory", "missing"])
def test_bad_config_path_exits_2(which, tmp_path, capsys):
    path = tmp_path if which == "directory" else tmp_path / "missing.toml"
    assert main(["report", str(path), "--out", str(tmp_path / "out"), "--json"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(path) in err


def test_failing_section_is_reported_and_others_still_run(tmp_path, capsys):
    (tmp_path / "bad_study.toml").write_text(  # valid TOML, invalid study
        '[game]\nkind = "tanh-wgan"\n[study]\nbatch_size = "sixty-four"\nhorizon = 1.0\n'
        'etas = [0.2, 0.1]\ncomparisons = [{scheme = "alt", sde = "alt-sde"}]\n')
    config = tmp_path / "report.toml"
    config.write_text('[report]\nsections = ["weak_order", "kernel"]\n'
                      '[weak_order]\nconfig = "bad_study.toml"\n'
                      '[kernel]\nparts = ["spectrum", "convergence"]\nconvergence_steps = 50\n')
    out = tmp_path / "out"
    assert main(["report", str(config), "--out", str(out), "--json", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""  # --no-progress: nothing on stderr
    printed = json.loads(captured.out)
    status = {s["name"]: s for s in printed["sections"]}
    assert status["weak_order"]["status"] == "failed"
    assert "study.batch_size" in status["weak_order"]["error"]
    assert "\n" not in status["weak_order"]["error"]
    assert status["kernel"]["status"] == "ok" and status["kernel"]["error"] is None
    saved = json.loads((out / "report.json").read_text())
    assert saved["status"] == "failed"
    assert [s["status"] for s in saved["sections"]] == ["failed", "ok"]
    page = (out / "report.html").read_text()
    assert "This section failed" in page and "study.batch_size" in page
    assert len(_images(page)) == 2  # the kernel spectrum and convergence


def test_same_seed_same_numbers(tmp_path, capsys):
    config = tmp_path / "report.toml"
    (tmp_path / "train.toml").write_text(
        '[train]\noptimizers = ["sgd", "fdr"]\nseeds = [4, 5]\nsteps = 40\nn_evals = 2\n'
        'hidden = 8\ndepth = 1\nn_data = 128\nn_latent = 128\neval_samples = 100\n')
    config.write_text('[report]\nsections = ["train"]\n[train]\nconfig = "train.toml"\n')
    summaries = []
    for run in ("a", "b"):
        assert main(["report", str(config), "--out", str(tmp_path / run), "--json",
                     "--no-progress"]) == 0
        capsys.readouterr()
        saved = json.loads((tmp_path / run / "report.json").read_text())
        summaries.append([(s["summary"], s["tables"]) for s in saved["sections"]])
    assert summaries[0] == summaries[1]


def test_report_seed_seeds_the_built_in_studies():
    assert weak_order_study_config(7, False)["study"]["seed"] == 7
    assert train_study_config(7, False)["train"]["seeds"] == [7, 8, 9]
    assert train_study_config(7, True)["train"]["seeds"] == [7, 8]


def test_built_in_configs_round_trip_as_toml():
    for raw in (weak_order_study_config(0, False), INVARIANT_STUDY, train_study_config(1, True),
                train_study_config(0, False)):
        assert tomllib.loads(dumps_toml(raw)) == raw


def test_built_in_invariant_study_is_the_example_game():
    example = tomllib.loads((EXAMPLES / "invariant_lq.toml").read_text())
    built_in = {k: dict(v) for k, v in INVARIANT_STUDY.items()}
    built_in["stationary"].pop("seed")
    assert built_in == example


def test_example_report_config_validates():
    config, _ = load_report_config(str(EXAMPLES / "report_quick.toml"))
    assert config.report.quick and config.report.sections == ["invariant", "kernel", "train"]
    assert Path(config.invariant.config) == EXAMPLES / "invariant_lq.toml"


def test_a_report_cleans_only_what_it_owns(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "weak_order").mkdir(parents=True)
    (out / "weak_order" / "stale.png").write_text("from an earlier report")
    (out / "kernel" / "spectrum").mkdir(parents=True)
    (out / "kernel" / "old-part.png").write_text("from an earlier kernel section")
    (out / "notes.txt").write_text("the user's own file")
    config = tmp_path / "report.toml"
    config.write_text('[report]\nsections = ["kernel"]\n[kernel]\nparts = ["spectrum"]\n')
    assert main(["report", str(config), "--out", str(out), "--json", "--no-progress"]) == 0
    capsys.readouterr()
    assert not (out / "weak_order").exists()                 # a section not in this report
    assert not (out / "kernel" / "old-part.png").exists()    # stale output of a rerun section
    assert (out / "kernel" / "spectrum" / "spectrum.png").is_file()
    assert (out / "notes.txt").read_text() == "the user's own file"


@pytest.mark.parametrize("value,text", [(0.12345, "0.123"), (6.072e-18, "6.07e-18"), (1.0, "1"),
                                        (0.9995, "0.9995000"), (1 + 2.2e-16, "1 + 2.2e-16"),
                                        (1 - 4e-9, "1 − 4e-09"), (12345.0, "1.23e+04"),
                                        (None, "—"), (float("inf"), "∞"), (True, "yes")])
def test_table_numbers_have_three_significant_figures_and_show_how_far_from_one(value, text):
    from gandyn.report.html import format_value

    assert format_value(value) == text


def _train_result(n_drops, ratios, n_trials=(0, 0)):
    entry = {"seeds": [0, 1], "final_per_seed": [{"mmd": 0.1}, {"mmd": 0.2}],
             "final_eta": [0.05, 0.05]}
    return {"steps": 800, "config": {"fdr_epsilon": 0.1, "fdr_min_samples": 400},
            "results": [{**entry, "optimizer": "sgd"},
                        {**entry, "optimizer": "fdr", "n_drops": n_drops,
                         "n_trials": list(n_trials), "fdr_last_ratio": ratios}]}


def test_the_training_section_says_in_words_what_the_schedule_did():
    from gandyn.report.sections import _train_verdicts

    never = _train_verdicts(_train_result([0, 0], [0.58, 0.67]))[0]
    assert "never lowered η" in never and "0.58, 0.67" in never and "coincide" in never
    untested = _train_verdicts(_train_result([0, 0], [float("nan"), float("nan")]))[0]
    assert "its test never ran" in untested and "fdr_min_samples = 400" in untested
    dropped = _train_verdicts(_train_result([2, 1], [1.01, 0.99]))[0]
    assert "lowered η 2, 1 times" in dropped
    # The cycle check lowered η for a trial and restored it: the run is not SGD's any more.
    restored = _train_verdicts(_train_result([0, 0], [1.02, 0.97], n_trials=[1, 0]))[0]
    assert "restored it" in restored and "1, 0 times" in restored
    assert "coincide" not in restored and "step for step" not in restored


# --- The quick report in headless Chromium ---
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "report.png"


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is needed at /usr/bin/chromium: install Debian's chromium "
                    "package (apt-get install -y chromium)")
    profile.mkdir()
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args,
                           page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)


def _body_counts(dom: str) -> tuple[int, int]:
    body = re.search(r"<body\b[^>]*>", dom)
    assert body, dom[:500]
    ok = re.search(r'data-images-ok="(\d+)"', body.group(0))
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    assert ok and total, body.group(0)
    return int(ok.group(1)), int(total.group(1))


def _console_errors(log: str) -> list[str]:
    """Lines of Chromium's log from the page's console: uncaught errors and console messages.

    Chromium logs every console message as ``INFO:CONSOLE`` whatever its level,
    so any console line counts: the report's script never writes to the console.
    """
    return [line for line in log.splitlines()
            if "Uncaught" in line or "ERROR:CONSOLE" in line or ":CONSOLE" in line
            or "console" in line.lower() and "error" in line.lower()]


@pytest.fixture
def report_page(quick_report) -> Path:
    proc, out = quick_report
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "report.html"


def test_every_image_decodes_in_chromium(report_page, tmp_path):
    proc = _chromium(report_page, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=5000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ok, total = _body_counts(proc.stdout)
    assert total > 0 and ok == total


def test_no_console_errors(report_page, tmp_path):
    proc = _chromium(report_page, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--dump-dom", "--virtual-time-budget=5000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_errors(proc.stderr) == []
    assert _body_counts(proc.stdout)[1] > 0


def test_console_error_check_sees_errors(tmp_path):
    """The check above would catch a page that throws (a control, on a tiny broken page)."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('broken page');"
                    "missingFunction();</script></body></html>")
    proc = _chromium(page, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--dump-dom", "--virtual-time-budget=5000")
    errors = _console_errors(proc.stderr)
    assert any("broken page" in line for line in errors), proc.stderr[-2000:]
    assert any("Uncaught ReferenceError" in line for line in errors), proc.stderr[-2000:]


def test_screenshot_of_the_whole_page(report_page, tmp_path):
    """The whole page renders: one tall screenshot holds it all, with content down to its end.

    With ``GANDYN_UPDATE_FIGURES=1`` the top of it becomes docs/figures/report.png.
    """
    import numpy as np
    from PIL import Image

    shot = tmp_path / "report.png"
    height = 30_000
    proc = _chromium(report_page, tmp_path / "profile", f"--screenshot={shot}",
                     f"--window-size=1280,{height}", "--virtual-time-budget=5000",
                     "--hide-scrollbars")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    pixels = np.asarray(Image.open(shot).convert("L"))
    drawn = np.flatnonzero((pixels < 250).any(axis=1))
    assert drawn.size and drawn[-1] < height - 50, "the page is taller than the screenshot"
    assert drawn[-1] > 5_000  # every section is there, not only the top
    if os.environ.get("GANDYN_UPDATE_FIGURES") == "1":
        Image.open(shot).crop((0, 0, 1280, 900)).save(SCREENSHOT)
