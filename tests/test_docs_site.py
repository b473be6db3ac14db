"""The documentation site builds in strict mode and its API reference is not empty."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = ["index", "games", "sde", "long_run", "train", "spectrum", "stability", "kernel", "report",
         "benchmarks", "api"]

# A few public names from different modules; each must have its own entry on the API page.
API_NAMES = [
    "gandyn.sga.simulate_sga",
    "gandyn.sde.make_sde",
    "gandyn.sde.simulate_sde",
    "gandyn.games.base.make_game",
    "gandyn.games.tanh_wgan.tanh_wgan",
    "gandyn.analysis.weak_error.monte_carlo_weak_error",
    "gandyn.analysis.game_spectrum.update_spectrum",
    "gandyn.analysis.step_spectrum.step_spectrum",
    "gandyn.analysis.update_maps.training_step",
    "gandyn.schedules.fdr.scale_by_fdr",
    "gandyn.schedules.torch.FDRScheduler",
    "gandyn.kernel.theory.theorem1_spectrum",
]


def test_mkdocs_strict_build(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"

    for page in PAGES:
        path = site / "index.html" if page == "index" else site / page / "index.html"
        assert path.is_file(), f"page {page!r} was not built"

    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = [name for name in API_NAMES if f'id="{name}"' not in api]
    assert not missing, f"API reference lacks entries for {missing}"
    # The docstrings themselves are rendered, not only the headings.
    assert "Simulate" in api and "weak error" in api


def test_generated_doc_blocks_name_their_command():
    """Every generated block in the docs names a command scripts/regenerate_docs.py can rerun."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("regenerate_docs",
                                                  root / "scripts" / "regenerate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    blocks = [m for page in sorted((root / "docs").glob("*.md"))
              for m in module.BLOCK.finditer(page.read_text(encoding="utf-8"))]
    assert len(blocks) >= 3
    for m in blocks:
        command, config = m.group(2), m.group(3)
        assert command == "train" and (root / config).is_file(), m.group(0)[:200]
        assert m.group(4).lstrip().startswith("| optimizer |")
