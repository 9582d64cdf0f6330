"""Writes docs/api.md, the API reference of nas_jax, from its docstrings.

Run from the repository root: ``.venv/bin/python docs/make_api.py``. Every module under
``nas_jax`` that imports cleanly is listed with the first paragraph of its docstring, then
every public class and function defined in it (no leading underscore) with its signature and
the first paragraph of its docstring. The output is sorted, so it changes only when the code
does. Nothing from ``experiments`` is imported.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / 'docs' / 'api.md'
PACKAGE = 'nas_jax'

HEADER = """# API reference: every public module, class and function of nas_jax

Written by `.venv/bin/python docs/make_api.py` from the docstrings; do not edit by hand
(`tests/test_docs.py` checks that it is current). Each entry gives the first paragraph of its
docstring. `import nas_jax as nj` gives the names listed under `nas_jax`.
"""


def first_paragraph(doc: str | None) -> str:
  """The first paragraph of a docstring as one line ('' for none)."""
  if not doc:
    return ''
  text = inspect.cleandoc(doc).strip()
  paragraph = re.split(r'\n\s*\n', text, maxsplit=1)[0]
  return ' '.join(line.strip() for line in paragraph.splitlines())


def signature(obj) -> str:
  """``inspect.signature`` of ``obj`` as text, without memory addresses and without a Flax
  module's ``parent`` and ``name`` ('(...)' where it has none)."""
  try:
    sig = inspect.signature(obj)
  except (TypeError, ValueError):
    return '(...)'
  parent = sig.parameters.get('parent')
  if inspect.isclass(obj) and parent is not None and 'flax' in str(parent):
    # a Flax module's constructor: leave out Flax's own parent and name
    kept = [p for p in sig.parameters.values() if p.name not in ('parent', 'name')]
    sig = sig.replace(parameters=kept)
  text = str(sig)
  return re.sub(r' at 0x[0-9a-fA-F]+', '', text)


def module_names() -> list[str]:
  """``nas_jax`` and every module under it, sorted."""
  package = importlib.import_module(PACKAGE)
  found = pkgutil.walk_packages(package.__path__, PACKAGE + '.', onerror=lambda name: None)
  return sorted({PACKAGE} | {info.name for info in found})


def load(name: str):
  """The module ``name``, or None where it does not import cleanly."""
  try:
    return importlib.import_module(name)
  except Exception:  # pylint: disable=broad-except
    return None


def defined_here(module) -> list[tuple[str, object]]:
  """``(name, object)`` of the public classes and functions ``module`` defines, sorted."""
  out = []
  for name, obj in sorted(vars(module).items()):
    if name.startswith('_'):
      continue
    target = inspect.unwrap(obj) if callable(obj) else obj
    if not (inspect.isclass(target) or inspect.isfunction(target)):
      continue
    if getattr(target, '__module__', None) != module.__name__:
      continue
    out.append((name, obj))
  return out


def own_doc(obj) -> str | None:
  """``obj``'s own docstring: none for a class that only inherits one or has the signature
  a dataclass writes in its place."""
  doc = vars(obj).get('__doc__') if inspect.isclass(obj) else obj.__doc__
  if inspect.isclass(obj) and doc and doc.startswith(obj.__name__ + '('):
    return None
  return doc


def methods(cls) -> list[str]:
  """The public methods and properties ``cls`` defines in its own body, sorted."""
  names = []
  for name, value in vars(cls).items():
    if name.startswith('_'):
      continue
    if isinstance(value, (staticmethod, classmethod, property)) or inspect.isfunction(value):
      names.append(name)
  return sorted(names)


def package_names(module) -> list[str]:
  """The top-level names of ``import nas_jax as nj`` and what each one is."""
  lines = []
  for name in sorted(getattr(module, '__all__', ())):
    obj = getattr(module, name)
    if inspect.ismodule(obj):
      where = f'the module `{obj.__name__}`'
    elif inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj)):
      where = f'`{obj.__module__}.{obj.__qualname__}`'
    else:
      where = f'a `{type(obj).__name__}` value'
    lines.append(f'- `nj.{name}`: {where}')
  return lines


def render_module(name: str, module) -> list[str]:
  lines = [f'## `{name}`', '']
  summary = first_paragraph(module.__doc__)
  if summary:
    lines += [summary, '']
  if name == PACKAGE:
    lines += package_names(module) + ['']
  for member, obj in defined_here(module):
    target = inspect.unwrap(obj)
    kind = 'class' if inspect.isclass(target) else 'def'
    lines += [f'### `{kind} {member}{signature(obj)}`', '']
    summary = first_paragraph(own_doc(target))
    if summary:
      lines += [summary, '']
    if inspect.isclass(target):
      public = methods(target)
      if public:
        lines += ['Members: ' + ', '.join(f'`{m}`' for m in public) + '.', '']
  return lines


def render() -> str:
  """The text of docs/api.md."""
  lines = HEADER.splitlines() + ['']
  skipped = []
  for name in module_names():
    module = load(name)
    if module is None:
      skipped.append(name)
      continue
    lines += render_module(name, module)
  if skipped:
    lines += ['## Modules that did not import', ''] + [f'- `{n}`' for n in skipped] + ['']
  return '\n'.join(lines).rstrip() + '\n'


def main() -> None:
  sys.path.insert(0, str(ROOT))
  OUT.write_text(render(), encoding='utf-8')
  print(f'wrote {OUT.relative_to(ROOT)}')


if __name__ == '__main__':
  main()
