"""Launcher plumbing: every bad input is one line on stderr and exit status 2, not a traceback.

Every launcher's ``__main__`` calls :func:`run`, which hands absl
:func:`parse_flags` as its flags parser: an unknown flag or config key (with
the nearest valid keys), a missing config file, a value of the wrong type or
out of a flag's bounds, a missing required flag or a stray argument. The
launcher's work then runs inside :func:`run_or_exit`, which does the same for
the library's own checks: config values, datasets, genotypes, checkpoints and
a NaN loss.
"""

from collections.abc import Callable
import difflib
import os
import re
import sys
from typing import NoReturn, TypeVar

from absl import app, flags

T = TypeVar('T')

# ml_collections re-raises a config file's ValueError with its traceback in the message.
_FILE_ERROR = 'Error whilst parsing config file:'
_EXCEPTION_PREFIX = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception): ')
_CONFIG_DEFAULTS: dict[str, str] = {}  # config flag name -> its default file (define_config_file)
# config flag name -> {name key: settings key}: a component whose settings follow its name
_SWITCHES: dict[str, dict[str, tuple[str, str]]] = {}  # config flag -> its switches


def fail(message: str) -> NoReturn:
  """Prints ``error: message`` to stderr and exits with status 2."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def define_config_file(
    name: str,
    default: str | None,
    help_string: str,
    switches: dict[str, tuple[str, str]] | None = None,
    optional: bool = False,
) -> flags.FlagHolder:
  """A config file flag with a default file that bad overrides cannot turn into a traceback.

  ml_collections loads a default file and applies ``--name.KEY`` overrides
  when the flag is defined, at import, out of :func:`parse_flags`' reach. So
  the flag is defined without one, and :func:`parse_flags` puts ``--name=default``
  in front of the arguments when they do not give ``--name`` (``default`` None: the
  flag is required, unless ``optional``: then its value is None when not given).

  ``switches`` maps a component's name key to its section and the registry it is built
  from, e.g. ``{'strategy_name': ('strategy', 'strategy')}`` (or ``'module:function'``, a
  function giving the section of a name): when the command line names
  another component than the file does, the section becomes that component's defaults
  (``nas_jax.components.section``), and the command line's settings apply over them
  (:func:`switch_components`). The file's settings belonged to the file's component.
  """
  from ml_collections import config_flags

  if default is not None:
    _CONFIG_DEFAULTS[name] = default
  _SWITCHES[name] = dict(switches or {})
  holder = config_flags.DEFINE_config_file(
      name,
      None,
      f'{help_string} (default: {default})' if default else help_string,
      lock_config=True,
  )
  if default is None and not optional:
    flags.mark_flag_as_required(name)
  return holder


def run(main: Callable[[list[str]], None]) -> None:
  """``absl.app.run(main)`` with :func:`parse_flags`; ``main`` gets no positional arguments."""
  app.run(main, flags_parser=parse_flags)


def parse_flags(argv: list[str]) -> list[str]:
  """The flags parser for ``app.run``: a bad flag or config override is one line and exit 2."""
  for name, default in _CONFIG_DEFAULTS.items():
    if _argument(name, argv) is None:
      argv.insert(1, f'--{name}={default}')  # in place: ml_collections reads sys.argv itself
  held = {name: _hold_switched(name, switches, argv) for name, switches in _SWITCHES.items()}
  try:
    rest = flags.FLAGS(argv)
  except (flags.Error, AttributeError, KeyError, OSError, TypeError, ValueError) as e:
    fail(_config_problem(argv) or _one_line(e))
  for flag in _config_flags():
    error = _load_error(flag)
    if error is not None:
      fail(_config_problem(argv) or f'--{flag.name}: {_one_line(error)}')
  if len(rest) > 1:
    fail(f'unexpected arguments: {" ".join(rest[1:])} (flags take the form --name=value)')
  for name, switches in _SWITCHES.items():
    if switches and flags.FLAGS[name].present:  # an optional config flag may be absent
      try:
        switch_components(flags.FLAGS[name], switches, held[name])
      except ValueError as e:  # ConfigError too
        fail(str(e))
  return rest


def _hold_switched(name: str, switches, argv: list[str]) -> list[tuple[str, str]]:
  """Removes from ``argv`` (in place) the ``--name.SECTION.KEY=VALUE`` settings of each section
  whose component the command line names: they may be settings of that component only, so
  they apply after the section is switched (:func:`switch_components`). Returns them as
  ``(SECTION.KEY, VALUE)``."""
  sections = [section for key, (section, _) in switches.items() if _argument(f'{name}.{key}', argv)]
  held = []
  for arg in list(argv):
    match = re.match(rf'^--{re.escape(name)}\.([^=.]+)\.([^=]+)=(.*)$', arg, re.S)
    if match and match.group(1) in sections:
      held.append((f'{match.group(1)}.{match.group(2)}', match.group(3)))
      argv.remove(arg)
  return held


def switch_components(flag: flags.Flag, switches, held=()) -> None:
  """Swaps a section for the defaults of the component the command line named, when it is
  another than the file's, then applies the ``held`` settings (:func:`_hold_switched`).

  The file's own settings belong to the component it names (the REA file's tournament size
  is no setting of NSGA-II), as the op set belongs to the space.
  """
  from ml_collections import config_flags  # pylint: disable=import-outside-toplevel

  config = flag.value
  overrides = config_flags.get_override_values(flag)
  original = None
  for name_key, (section_key, registry) in switches.items():
    if name_key not in overrides:
      continue
    if original is None:  # the file's own config (``file[:arg]``), before the overrides
      original = flag.parser.parse(config_flags.get_config_filename(flag))
    if original[name_key] != config[name_key]:
      try:
        fresh = _defaults(registry, config[name_key])
      except ValueError as e:
        raise ValueError(f'--{flag.name}.{name_key}: {e}') from None
      with config.unlocked():
        config[section_key] = fresh
      config[section_key].lock()
  for path, text in held:
    *parents, key = path.split('.')
    section = config
    for i, part in enumerate(parents):
      if part not in section:
        _set_from_text(flag.name, section, '.'.join(parents[:i]), part, text)  # the error
      section = section[part]
      if not hasattr(section, 'lock'):
        raise ValueError(f'--{flag.name}.{path}: {".".join(parents[: i + 1])} has no settings')
    _set_from_text(flag.name, section, '.'.join(parents), key, text)


def _defaults(registry: str, name: str):
  """The section of component ``name``: ``nas_jax.components.section(registry, name)``, or for
  ``registry='module:function'``, ``function(name)`` (a section whose defaults a config file
  gives, as ``discrete_rea.estimator_section``)."""
  import importlib  # pylint: disable=import-outside-toplevel

  from nas_jax import components  # pylint: disable=import-outside-toplevel

  if ':' in registry:
    module, function = registry.split(':')
    return getattr(importlib.import_module(module), function)(name)
  return components.section(registry, name)


def _set_from_text(flag_name: str, section, section_key: str, key: str, text: str) -> None:
  """``section[key] = text`` parsed as the key's type (bool, int, float, str or a tuple of
  comma-separated items); one-line errors for an unknown key or a bad value."""
  where = f'--{flag_name}.{section_key}.{key}'
  if key not in section:
    close = difflib.get_close_matches(key, list(section), n=1, cutoff=0.6)
    hint = f'; did you mean {close[0]!r}?' if close else ''
    raise ValueError(
        f'{where}: unknown setting {key!r}{hint} (its settings: {", ".join(sorted(section))})'
    )
  kind = section.get_type(key)
  try:
    if kind is bool:
      if text.lower() not in ('true', 'false', '1', '0'):
        raise ValueError(f'expected true or false, got {text!r}')
      value = text.lower() in ('true', '1')
    elif kind in (int, float):
      value = kind(text)
    elif kind is tuple:
      items = [t.strip(' \'"()[]') for t in text.split(',')]
      value = tuple(_number_or_text(t) for t in items if t)
    else:
      value = text
  except ValueError as e:
    raise ValueError(f'{where}={text}: {e}') from None
  with section.ignore_type():
    section[key] = value


def _number_or_text(item: str):
  for kind in (int, float):
    try:
      return kind(item)
    except ValueError:
      pass
  return item


def _config_flags() -> list[flags.Flag]:
  """The ``config_flags.DEFINE_config_file`` flags (ml_collections' flag type name)."""
  return [
      flags.FLAGS[name] for name in flags.FLAGS if flags.FLAGS[name].flag_type() == 'config object'
  ]


def _load_error(flag: flags.Flag) -> OSError | None:
  """Why ``flag``'s config file failed to load, or None: ml_collections raises it on first use."""
  try:
    getattr(flag.value, 'keys', None)
  except OSError as e:
    return e
  return None


def _argument(name: str, argv: list[str]) -> str | None:
  """The value given to ``--name`` in ``argv`` (``--name=v`` or ``--name v``), or None."""
  value = None
  for i, arg in enumerate(argv):
    match = re.match(rf'^--?{re.escape(name)}(=|$)', arg)
    if match:
      value = arg[match.end() :] if match.group(1) else (argv[i + 1] if i + 1 < len(argv) else None)
  return value


def _overrides(name: str, argv: list[str]) -> list[str]:
  """The config paths ``--name.a.b=...`` (or ``--noname.a.b``) in ``argv`` overrides."""
  keys = []
  for arg in argv:
    match = re.match(rf'^--?(no)?{re.escape(name)}\.([^=]+)', arg)
    if match:
      keys.append(match.group(2))
  return keys


def _paths(config, prefix: str = '') -> list[str]:
  """Every dotted key path of a ConfigDict."""
  out = []
  for key, value in config.items():
    out.append(prefix + key)
    if hasattr(value, 'items') and hasattr(value, 'lock'):  # a nested ConfigDict
      out += _paths(value, prefix + key + '.')
  return out


def _has_path(config, path: str) -> bool:
  node = config
  for part in path.split('.'):
    if not (hasattr(node, 'lock') and part in node):
      return False
    node = node[part]
  return True


def _config_problem(argv: list[str]) -> str | None:
  """A missing config file or an unknown key given on the command line, in one line."""
  for flag in _config_flags():
    argument = _argument(flag.name, argv)
    if argument is None:
      continue
    path = argument.split(':', 1)[0]
    if not os.path.isfile(path):
      return f'--{flag.name}: no such config file {path!r}'
    try:  # load it again (cheap) to see its keys: the failed parse kept nothing
      config = flag.parser.parse(argument)
      known = _paths(config)
    except Exception:  # pylint: disable=broad-except
      continue  # the file itself fails: the original error says why
    for key in _overrides(flag.name, argv):
      if not _has_path(config, key):
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = (
            f'; did you mean {" or ".join(repr(c) for c in close)}?'
            if close
            else f'; the keys are those of {path}'
        )
        return f'--{flag.name}.{key}: unknown config key {key!r}{hint}'
  return None


def _one_line(error: BaseException) -> str:
  """absl's message, or for a config file that raised, its head and the error's last line."""
  lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
  if not lines:
    return type(error).__name__
  head = re.sub(r'^flag ', '', lines[0])
  required = re.match(r'^--(\S+)=None: Flag --\S+ must have a value other than None\.$', head)
  if required:
    return f'--{required.group(1)} is required'
  if len(lines) == 1:
    return head
  last = _EXCEPTION_PREFIX.sub('', lines[-1])
  head = head[: -len(_FILE_ERROR)].rstrip() if head.endswith(_FILE_ERROR) else head + ':'
  return f'{head} {last}'


def mean_se(values) -> tuple[float, float]:
  """The mean of ``values`` (over seeds) and its standard error (0 for one value)."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  values = np.asarray(values, np.float64)
  if len(values) < 2:
    return float(values.mean()), 0.0
  return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def paired(plain, other) -> tuple[list[str], list[str]]:
  """Per budget, from per-seed regrets of two runs that share their seeds' keys: the
  paired difference other - plain as ``mean ± se``, and the share of seeds where ``other``
  is better / tied / worse (``'0.34 / 0.12 / 0.54'``)."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  diffs, shares = [], []
  for p, w in zip(plain, other):
    d = np.asarray(w, np.float64) - np.asarray(p, np.float64)
    m, se = mean_se(d)
    diffs.append(f'{m:+.4f} ± {se:.4f}')
    tied = np.isclose(d, 0.0, rtol=0.0, atol=1e-7)
    better, worse = (d < 0) & ~tied, (d > 0) & ~tied
    shares.append(f'{better.mean():.2f} / {tied.mean():.2f} / {worse.mean():.2f}')
  return diffs, shares


def summary_row(name, seeds, rows, seconds) -> str:
  """A markdown row of ``nas_jax.discrete.summarize`` rows: per budget, the report ± std /
  percentile / regret / distinct cells, then the wall seconds."""
  cells = [
      f'{r["report_mean"]:.4f} ± {r["report_std"]:.4f} / {r["percentile_mean"]:.1f} / '
      f'{r["regret_mean"]:.4f} / {r["distinct_mean"]:.0f}'
      for r in rows
  ]
  return f'| {name} | {seeds} | ' + ' | '.join(cells) + f' | {seconds:.1f} |'


def noise_ceiling(table, metric='test_acc') -> dict:
  """The table's own noise: seed-against-seed Kendall tau and Spearman rho of ``metric`` and
  of the search's ``val_acc``, and the mean standard error of a cell's seed-mean ``metric``
  (``std / sqrt(seeds)`` over its measured seeds)."""
  import numpy as np
  import scipy.stats

  out = {}
  for name in (n for n in dict.fromkeys((metric, 'val_acc')) if n in table.metrics):
    per_seed = np.stack([table.values(name, seed=s) for s in table.seeds], axis=1)
    if per_seed.shape[1] >= 2:
      a, b = per_seed[:, 0], per_seed[:, 1]
      ok = ~np.isnan(a) & ~np.isnan(b)
      out[f'{name}_tau'] = float(scipy.stats.kendalltau(a[ok], b[ok])[0])
      out[f'{name}_rho'] = float(scipy.stats.spearmanr(a[ok], b[ok])[0])
  from nas_jax.tabular import noise

  per_seed = np.stack([table.values(metric, seed=s) for s in table.seeds], axis=1)
  out['cell_se'] = noise.cell_se(per_seed)
  return out


def against_random(regrets, random_regrets, noise, higher_is_better=False, digits=4) -> str:
  """``Δ ± se (verdict)``: the mean regret difference from random search's (negative:
  better; with ``higher_is_better``, a score such as a hypervolume ratio, positive: better),
  its standard error (independent seeds), and better / worse / tie (a tie within two
  standard errors or within the table's per-cell noise), to ``digits`` decimals."""
  import numpy as np

  a, b = np.asarray(regrets, np.float64), np.asarray(random_regrets, np.float64)
  a, b = a[~np.isnan(a)], b[~np.isnan(b)]
  (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
  diff, se = ma - mb, float(np.hypot(sa, sb))
  if abs(diff) <= 2 * se or abs(diff) <= noise:
    verdict = 'tie'
  else:
    verdict = 'better' if (diff > 0) == higher_is_better else 'worse'
  return f'{diff:+.{digits}f} ± {se:.{digits}f} ({verdict})'


def against_random_table(regrets: dict, budgets, noise, label: str = 'strategy') -> list[str]:
  """Markdown rows of :func:`against_random` for every strategy of ``regrets`` (name -> per
  budget, per-seed regrets) but ``'random'``, against ``regrets['random']``: a header, then
  one row per strategy (``label`` heads the first column)."""
  lines = [
      f'| {label} | ' + ' | '.join(f'{b} queries' for b in budgets) + ' |',
      '|---|' + '---|' * len(budgets),
  ]
  for name, per_budget in regrets.items():
    if name != 'random':
      cells = [against_random(r, base, noise) for r, base in zip(per_budget, regrets['random'])]
      lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return lines


def make_workdir(path: str) -> str:
  """Creates the output directory ``path`` (ConfigError, one line, if it is a file)."""
  import os

  from nas_jax.config_checks import ConfigError

  if os.path.exists(path) and not os.path.isdir(path):
    raise ConfigError(f'--workdir {path} exists and is not a directory')
  os.makedirs(path, exist_ok=True)
  return path


def run_or_exit(fn: Callable[[], T]) -> T:
  """Runs ``fn``; known user errors print one line to stderr and exit with status 2."""
  from nas_jax import runtime
  from nas_jax.checkpoint import CheckpointError
  from nas_jax.data import DatasetUnavailableError, SplitError
  from nas_jax.export import ExportError
  from nas_jax.search import ConfigError
  from nas_jax.spaces.darts.genotype import GenotypeError
  from nas_jax.tabular.builder import BuildError
  from nas_jax.tabular.table import TableError
  from nas_jax.train import ConfigError as TrainConfigError

  runtime.enable_compilation_cache()
  from absl import logging

  logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint step at INFO
  try:
    return fn()
  except (
      ConfigError,
      TrainConfigError,
      DatasetUnavailableError,
      SplitError,
      GenotypeError,
      CheckpointError,
      BuildError,
      TableError,
      ExportError,
      FloatingPointError,
  ) as e:
    fail(str(e))
