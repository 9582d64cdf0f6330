"""The documentation: the README's length and quickstart, the links, and the API reference."""

import contextlib
import importlib.util
import io
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / 'README.md'
PAGES = [README] + sorted((ROOT / 'docs').glob('*.md'))

LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r'`[^`\n]*`')


def _prose(text: str) -> str:
  """``text`` without its code blocks and code spans, where brackets are not links."""
  return INLINE_CODE.sub('', FENCE.sub('', text))


def _relative_links(path: pathlib.Path) -> list[str]:
  links = []
  for target in LINK.findall(_prose(path.read_text(encoding='utf-8'))):
    if re.match(r'[a-zA-Z][a-zA-Z0-9+.-]*:', target) or target.startswith('#'):
      continue  # a URL (http:, mailto:) or an anchor in the same page
    links.append(target)
  return links


def test_readme_is_short():
  lines = README.read_text(encoding='utf-8').splitlines()
  assert len(lines) <= 250, f'README.md has {len(lines)} lines; move detail to docs/'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
  broken = []
  for target in _relative_links(page):
    path = target.split('#', 1)[0]
    if path and not (page.parent / path).exists():
      broken.append(target)
  assert not broken, f'{page.relative_to(ROOT)}: links to missing files: {broken}'


def test_the_link_finder_sees_links_and_skips_code():
  text = '[a](docs/x.md) ![b](fig.png) [c](https://e.org) [d](#top)\n```\n[e](f.md)\n```\n`[g](h)`'
  assert LINK.findall(_prose(text)) == ['docs/x.md', 'fig.png', 'https://e.org', '#top']


def _make_api():
  spec = importlib.util.spec_from_file_location('make_api', ROOT / 'docs' / 'make_api.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_api_reference_is_current():
  before = set(sys.modules)
  text = _make_api().render()
  imported = {name.split('.')[0] for name in set(sys.modules) - before}
  assert 'experiments' not in imported, 'docs/make_api.py must not import experiments'
  written = (ROOT / 'docs' / 'api.md').read_text(encoding='utf-8')
  assert written == text, 'docs/api.md is stale: run .venv/bin/python docs/make_api.py'
  assert '## `nas_jax.spaces.base`' in text and '### `class Space(' in text


def _quickstart() -> str:
  text = README.read_text(encoding='utf-8')
  heading = re.search(r'^#+ .*Quickstart.*$', text, re.MULTILINE)
  assert heading, 'README.md has no Quickstart heading'
  block = re.search(r'^```python\n(.*?)^```', text[heading.end() :], re.DOTALL | re.MULTILINE)
  assert block, 'no ```python block after the Quickstart heading'
  return block.group(1)


def test_readme_quickstart_runs():
  code = _quickstart()
  assert len(code.splitlines()) <= 10
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, 'README.md:quickstart', 'exec'), {'__name__': '__quickstart__'})
  lines = out.getvalue().splitlines()
  assert len(lines) == 3, lines
  assert lines[0].split()[0] == '20' and lines[1].split()[0] == '100'


def test_every_public_name_resolves():
  import nas_jax as nj

  for name in nj.__all__:
    assert getattr(nj, name) is not None, name
  assert nj.retrain.__module__ == 'nas_jax.train' and nj.Recipe().epochs == 600
  with pytest.raises(AttributeError, match="has no attribute 'run_everything'"):
    nj.run_everything  # noqa: B018
