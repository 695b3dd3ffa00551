"""The repository speaks to its users: no internal work-period labels, README commands that CI runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The word for an internal work period followed by its number (with a space or a hyphen,
# singular or plural): such labels mean nothing to users. Narrow on purpose: the word
# alone (a pytest fixture scope, a TensorFlow API) does not match.
PERIOD_LABEL = re.compile(r"\b[Ss]essions?[ -]\d+\b")
TEXT_SUFFIXES = {".py", ".md", ".sh", ".txt", ".toml", ".json", ".csv", ".jsonl", ".cfg", ".yml", ".yaml", ""}


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / p for p in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
        skip = {".git", ".venv", "data", "results", "demo", "__pycache__"}
        paths = [p for p in ROOT.rglob("*") if not skip & set(p.relative_to(ROOT).parts)]
    return [p for p in paths if p.is_file() and p.suffix in TEXT_SUFFIXES and p.stat().st_size < 5_000_000]


def test_no_tracked_file_labels_work_by_numbered_periods():
    hits = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if PERIOD_LABEL.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not hits, "numbered work-period labels (use dates or versions):\n" + "\n".join(hits[:20])


def test_the_pattern_is_narrow():
    word = "ses" + "sion"  # spelled apart, so that this file does not match itself
    assert PERIOD_LABEL.search(f"trained in {word} 12") and PERIOD_LABEL.search(f"{word}s 3-5")
    assert PERIOD_LABEL.search(f"the {word.title()}-4 run")
    assert not PERIOD_LABEL.search('@pytest.fixture(scope="session")')
    assert not PERIOD_LABEL.search("tf.compat.v1.Session(config=cfg)")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.split("```bash", 1)[1].split("```", 1)[0].splitlines()]
    commands = [c for c in commands if c]
    assert len(commands) == 2
    setup, tests = commands
    assert setup.startswith("bash scripts/setup.sh") and "bash scripts/setup.sh" in ci
    assert tests in [line.strip() for line in ci.splitlines()]


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 260


def _library_imports() -> dict[str, set[str]]:
    """Every hdc module's imports of other project modules (function-level ones too, those
    under ``if TYPE_CHECKING:`` left out)."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "hdc").glob("*.py")):
        tree = ast.parse(path.read_text())
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        found = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] in ("hdc", "evaluation", "experiments") and len(parts) > 1:
                    found.add(".".join(parts[:2]))
                elif parts[0] in ("evaluation", "experiments"):
                    found.add(parts[0])
        graph[f"hdc.{path.stem}"] = found - {f"hdc.{path.stem}"}
    return graph


def test_the_library_has_no_import_cycle_and_never_imports_evaluation_or_experiments():
    graph = _library_imports()
    outside = {m: sorted(d for d in deps if not d.startswith("hdc.")) for m, deps in graph.items()}
    assert not any(outside.values()), outside
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            assert state.get(d) != 1, "import cycle: " + " -> ".join(path + [m, d])
            if d in graph and d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_library_function_is_over_80_lines():
    import ast

    long = []
    for path in sorted((ROOT / "hdc").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
