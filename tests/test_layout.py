"""The package's shape: each stage's folder imports only from the stages below it, and the library
takes typed settings and checkpoint metadata, never an argparse Namespace or a raw dict."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

PACKAGE = ROOT / "lstm_music"
# bottom to top; the package's own top-level modules (files, cli, backend, streams) are shared by all
STAGES = ["", "data", "render", "model", "generate", "evaluate"]
COMMANDS = {"settings", "evaluate.run", "evaluate.__main__"}  # the command line: above every stage


def stage(module: str) -> int:
    """The height of a module (dotted, under lstm_music) in `STAGES`; the command modules above all."""
    if module in COMMANDS:
        return len(STAGES)
    folder = module.split(".")[0] if "." in module else ""
    return STAGES.index(folder)


def runtime_imports(path) -> list[tuple[int, str]]:
    """(line, module) of each relative import of the file at `path` that runs (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    folder = list(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in typing_only:
            base = folder[: len(folder) - (node.level - 1)]
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found += [(node.lineno, ".".join([*base, name])) for name in names]
    return found


def test_each_stage_imports_only_from_the_stages_below_it() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert {p.parent.name for p in modules} == {"lstm_music", *STAGES[1:]}
    upward = []
    for path in modules:
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for line, target in runtime_imports(path):
            if stage(target) > stage(module):
                upward.append(f"{module}:{line} imports {target}")
    assert not upward, upward


def test_the_library_takes_settings_objects_and_reads_metadata_through_its_schema() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"\bargs\.|Namespace\b", text), path
        if path.name != "checkpoint.py":
            assert not re.search(r"metadata\.get\(|metadata\[", text), path


def test_no_module_over_450_lines_and_no_function_over_60() -> None:
    files = [*PACKAGE.rglob("*.py"), ROOT / "train.py", ROOT / "generate_music.py"]
    long_modules = [path.name for path in files if len(path.read_text().splitlines()) > 450]
    long_functions = [
        f"{path.name}:{node.name}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long_modules and not long_functions, (long_modules, long_functions)
