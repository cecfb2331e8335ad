"""The docs' measurement tables are made from the committed results, not typed: each page
carries exactly what its generator prints from benchmarks/results/*.json."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEED_RESULTS = ['cpu_avx512_tiny_1x512_fp32_vs_timm.json',
                 'cpu_avx2_emulated_tiny_1x512_fp32_vs_timm.json', 'cpu_tiny_1x512_bf16.json',
                 'cpu_tiny_1x512_fp32_compiled.json']


@pytest.mark.parametrize('page', ['docs/results.md', 'docs/extraction.md'])
def test_measurement_tables_come_from_the_results(page):
    from doc_tables import TABLES
    assert TABLES[page]() in (ROOT / page).read_text(), 'run: python benchmarks/doc_tables.py'


def test_cpu_speed_table_comes_from_the_results():
    from speed_table import table
    made = table([str(ROOT / 'benchmarks' / 'results' / name) for name in SPEED_RESULTS])
    assert made.strip() in (ROOT / 'docs' / 'speed.md').read_text(), (
        'run: python benchmarks/speed_table.py benchmarks/results/<the four cpu_*.json>')


def test_readme_front_page_is_short_and_its_links_resolve():
    import re
    readme = (ROOT / 'README.md').read_text()
    assert len(readme.splitlines()) <= 200
    for page in [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]:
        for link in re.findall(r'\]\(([^)#]+)\)', page.read_text()):
            if not link.startswith('http'):
                assert (page.parent / link).exists(), f'{page.name}: {link}'
