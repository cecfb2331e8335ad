"""The library/application line, read from the import statements (issue 10's layout)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / 'convnext_backbone'


def package_imports(path: Path):
    """Absolute names of the project modules a file imports (relative imports resolved)."""
    package = '.'.join(path.relative_to(ROOT).parent.parts)  # where `from .x` looks
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                names.add('.'.join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module)
    return {n for n in names if n.startswith(('convnext_backbone', 'convnext_cli'))}


@pytest.mark.parametrize('path', sorted(LIBRARY.rglob('*.py')),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_library_imports_nothing_from_the_application_and_no_cli_machinery(path):
    assert not {n for n in package_imports(path) if n.startswith('convnext_cli')}
    text = path.read_text()
    # No command-line parsing or exiting (argparse.Namespace, the class training runs pickle
    # their arguments as, may be named: the checkpoint reader allowlists it).
    for machinery in ('ArgumentParser', 'parse_args', 'add_argument', 'SystemExit',
                      'sys.exit'):
        assert machinery not in text, machinery


def test_arch_table_is_a_leaf_and_checkpoint_depends_only_on_it():
    assert package_imports(LIBRARY / 'archs.py') == set()
    for path in (LIBRARY / 'checkpoint').glob('*.py'):
        outside = {n for n in package_imports(path)
                   if not n.startswith('convnext_backbone.checkpoint')}
        assert outside <= {'convnext_backbone.archs'}, (path.name, outside)


def test_no_test_edits_sys_path():
    for path in (ROOT / 'tests').glob('*.py'):
        assert 'sys.path' not in path.read_text().replace("'sys.path'", ''), path.name
