"""The README's Python quickstart runs as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks[:2]).replace("n_runs=20_000", "n_runs=2_000").replace(
        "10, 20_000", "10, 2_000")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "weak error at T = 2" in proc.stdout


def test_kernel_doc_example_runs_and_prints_what_it_says(tmp_path):
    doc = README.parent / "docs" / "kernel.md"
    code = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)[0]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["0.9790871211463571", "0.8365151541457141", "5.2"]
    assert abs(float(lines[2]) - 0.9790871211463571) < 1e-12  # autodiff route = Theorem 1
    empirical, generator, joint = map(float, lines[3].split())
    assert abs(empirical - generator) < 1e-8 and joint == 0.99
    assert (tmp_path / "phase.png").exists()


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_readme_study_block_runs():
    """The block that runs a study from Python (a typed config in, a typed result out)."""
    code = next(b for b in _python_blocks(README) if "gandyn.studies" in b)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=README.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "weak-order study: linear-quadratic (exact" in proc.stdout


def test_sde_doc_example_prints_what_the_doc_quotes():
    doc = README.parent / "docs" / "sde.md"
    code = _python_blocks(doc)[0]
    quoted = re.search(r"# (\d\.\d+)\n", code).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == quoted
