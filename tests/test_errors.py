"""Bad input to the launchers: one line on stderr starting with ``error:``, exit 2, no traceback.

The launcher cases run ``python -m experiments.<name>`` and fail before any
compile (most of them in the flags parser, ``experiments/cli.py``).
"""

import os
import subprocess
import sys

from absl import flags
from config_helpers import configure  # tests/ is on sys.path under pytest
from ml_collections import config_flags
import pytest

from experiments.configs import search_demo
from nas_jax import search
from nas_jax.spaces.darts import DARTS_PRIMITIVES
from nas_jax.spaces.nb201 import NB201_PRIMITIVES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = 'experiments/configs/search_demo.py'


def _launch(launcher, *args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run(
      [sys.executable, '-m', f'experiments.{launcher}', *args],
      cwd=REPO,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )


def _one_line_error(proc) -> str:
  """The error line of a launcher that refused its input: exit 2, no traceback, one error line."""
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert lines and lines[-1].startswith('error: '), proc.stderr[-2000:]
  assert sum(line.startswith('error: ') for line in lines) == 1
  return lines[-1]


def test_unknown_config_key_names_it_and_suggests_the_nearest(tmp_path):
  line = _one_line_error(
      _launch('search', f'--config={DEMO}', f'--workdir={tmp_path}/a', '--config.no_such_key=3')
  )
  assert line.startswith("error: --config.no_such_key: unknown config key 'no_such_key'")
  assert 'did you mean' not in line  # nothing is close
  line = _one_line_error(
      _launch('search', f'--config={DEMO}', f'--workdir={tmp_path}/b', '--config.lerning_rate=0.1')
  )
  assert "unknown config key 'lerning_rate'; did you mean 'learning_rate'" in line
  assert not os.path.exists(tmp_path / 'a') and not os.path.exists(tmp_path / 'b')


def test_missing_config_file_names_it(tmp_path):
  # Without overrides ml_collections defers the error to the first use; with one it is raised
  # while parsing the override: both are one line.
  for extra in ((), ('--config.epochs=2',)):
    line = _one_line_error(
        _launch(
            'search', '--config=experiments/configs/nope.py', f'--workdir={tmp_path}/run', *extra
        )
    )
    assert line == "error: --config: no such config file 'experiments/configs/nope.py'"
  assert not os.path.exists(tmp_path / 'run')


def _demo_config(args):
  """The demo search config as ``--config=search_demo.py ARGS`` parses it, validated."""
  argv = ['search', f'--config={os.path.join(REPO, DEMO)}', *args]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', flag_values=values, sys_argv=argv)
  values(argv)
  config = values.config
  search.validate_config(config)
  return config


@pytest.mark.parametrize(
    'args',
    [
        ['--config.space.primitives=none,sep_conv_3x3'],
        ["--config.space.primitives=('none', 'sep_conv_3x3')"],
        ['--config.space.primitives=none', '--config.space.primitives=sep_conv_3x3'],
    ],
)
def test_primitives_can_be_set_from_the_command_line(args):
  config = _demo_config(args)
  assert tuple(config.space.primitives) == ('none', 'sep_conv_3x3')


_SEARCH_AFTER_PARSE = """
import sys
from experiments import cli
holder = cli.define_config_file(
    'config', 'experiments/configs/search_demo.py', 'x',
    switches={'strategy_name': ('strategy', 'strategy'), 'space_name': ('space', 'space')},
)
cli.parse_flags(sys.argv)
from nas_jax import search
strategy = search.validate_config(holder.value)
print(repr((tuple(holder.value.space.primitives), sorted(holder.value.strategy.items()))))
"""


def _printed_by(script: str, args) -> str:
  """The last line ``python -c script ARGS`` prints (a subprocess: the launchers' parser
  defines process-wide flags)."""
  proc = subprocess.run(
      [sys.executable, '-c', script, *args],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout.strip().splitlines()[-1]


def _parsed_search(args):
  """``(op set, strategy settings)`` of the demo search config after the launchers' parser
  and the config checks."""
  return _printed_by(_SEARCH_AFTER_PARSE, args)


def test_switching_the_space_or_strategy_switches_their_sections():
  # The space's own op set comes with it; the command line's settings apply over the named
  # component's defaults, also settings the file's component does not have.
  cases = {
      (): (DARTS_PRIMITIVES, [('init_scale', 0.001)]),
      ('--config.space_name=nb201',): (NB201_PRIMITIVES, [('init_scale', 0.001)]),
      ('--config.space_name=nb201', '--config.space.primitives=none,nor_conv_3x3'): (
          ('none', 'nor_conv_3x3'),
          [('init_scale', 0.001)],
      ),
      ('--config.strategy_name=gdas', '--config.strategy.tau_max=5'): (
          DARTS_PRIMITIVES,
          [('init_scale', 0.001), ('tau_max', 5.0), ('tau_min', 0.1)],
      ),
      ('--config.strategy_name=darts', '--config.strategy.init_scale=0.01'): (
          DARTS_PRIMITIVES,
          [('init_scale', 0.01)],
      ),
  }
  for args, (ops, settings) in cases.items():
    assert _parsed_search(list(args)) == repr((tuple(ops), settings)), args


def test_an_op_of_the_other_space_is_named_with_the_space():
  config = configure(search_demo.get_config(), space='nb201', primitives=('none', 'max_pool_3x3'))
  with pytest.raises(
      search.ConfigError,
      match="config.space.primitives: unknown op 'max_pool_3x3' in "
      'primitives; known ops of the nb201 space',
  ):
    search.validate_config(config)


def test_primitives_assigned_in_code_still_work():
  config = search_demo.get_config()
  config.space.primitives = ['none', 'max_pool_3x3', 'sep_conv_3x3']  # a list, as in the tests
  search.validate_config(config)
  assert tuple(config.space.primitives) == ('none', 'max_pool_3x3', 'sep_conv_3x3')


def test_unknown_op_on_the_command_line_names_it(tmp_path):
  line = _one_line_error(
      _launch(
          'search',
          f'--config={DEMO}',
          f'--workdir={tmp_path}/run',
          '--config.space.primitives=none,conv_9x9',
      )
  )
  assert line.startswith("error: config.space.primitives: unknown op 'conv_9x9'")
  assert not os.path.exists(tmp_path / 'run')


@pytest.mark.parametrize(
    'launcher,args,expected',
    [
        # Wrong type, the launcher of each: absl's message for the value.
        (
            'train',
            [
                '--config=experiments/configs/train_demo.py',
                '--workdir={tmp}',
                '--config.epochs=three',
            ],
            'error: --config.epochs=three: invalid literal for int()',
        ),
        (
            'train',
            ['--config=experiments/configs/train_nope.py', '--workdir={tmp}'],
            "error: --config: no such config file 'experiments/configs/train_nope.py'",
        ),
        # inspect's --config has a default file, which ml_collections would load at import.
        (
            'inspect',
            ['--genotype=DARTS_V2', '--out={tmp}', '--config.layerz=8'],
            "error: --config.layerz: unknown config key 'layerz'; did you mean 'layers'",
        ),
        (
            'compare',
            ['--workdir={tmp}', '--seeds=0'],
            'error: --seeds=0: 0 is not a positive integer',
        ),
        ('compare', ['--workdir={tmp}', '--strategies=darts,nope'], "unknown strategy 'nope'"),
        ('demo', ['--workdir={tmp}', '--seeds=x'], 'error: --seeds=x: invalid literal'),
        ('demo', ['--workdir={tmp}', '--strategy=nope'], "unknown strategy 'nope'"),
        (
            'tabulate',
            ['--workdir={tmp}', '--config.space.primitives=none,bogus'],
            "error: config.space.primitives: unknown op 'bogus'",
        ),
        (
            'reports.estimator_report',
            ['--proxies=synflow,nonsense', '--out={tmp}'],
            "unknown proxy 'nonsense'",
        ),
        (
            'search',
            [f'--config={DEMO}', '--workdir={tmp}', 'extra'],
            'error: unexpected arguments: extra',
        ),
        ('search', ['--workdir={tmp}'], 'error: --config is required'),
        (
            'search',
            ['--config=experiments/configs/search_gdas.py:nope', '--workdir={tmp}'],
            "error: --config=experiments/configs/search_gdas.py:nope: unknown config variant 'nope'",
        ),
    ],
)
def test_every_launcher_reports_bad_flags_in_one_line(tmp_path, launcher, args, expected):
  tmp = str(tmp_path / 'out')
  line = _one_line_error(_launch(launcher, *(a.format(tmp=tmp) for a in args)))
  assert line.startswith(expected) or expected in line, line
  assert not os.path.exists(tmp)  # refused before anything was written


def test_a_workdir_that_is_a_file_is_one_line(tmp_path):
  (tmp_path / 'afile').write_text('not a directory')
  line = _one_line_error(_launch('discrete', f'--workdir={tmp_path}/afile'))
  assert line.startswith(f'error: --workdir {tmp_path}/afile exists and is not a directory')
  assert (tmp_path / 'afile').read_text() == 'not a directory'


def test_switching_the_strategy_drops_the_files_settings(tmp_path):
  # The REA file's tournament size is no setting of NSGA-II: switching the strategy on the
  # command line leaves NSGA-II's defaults (the error is then about what NSGA-II needs).
  line = _one_line_error(
      _launch('discrete', '--config.strategy_name=nsga2', f'--workdir={tmp_path}/a')
  )
  assert 'sample' not in line and 'nsga2 optimizes 2 objective(s)' in line, line
  assert not os.path.exists(tmp_path / 'a')


def test_switched_strategy_runs_with_the_command_lines_settings(tmp_path):
  proc = _launch(
      'discrete',
      '--config.strategy_name=nsga2',
      "--config.objectives=('params',)",
      '--config.strategy.population=6',
      '--config.max_queries=12',
      '--config.budget=12',
      f'--workdir={tmp_path}/b',
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '12 queries asked' in proc.stdout
  history = (tmp_path / 'b' / 'history.jsonl').read_text().splitlines()
  assert len(history) == 12  # two generations of the population given on the command line


_SETTINGS_AFTER_PARSE = """
import sys
from experiments import cli
holder = cli.define_config_file(
    'config', 'experiments/configs/discrete_rea.py', 'x',
    switches={'strategy_name': ('strategy', 'discrete_strategy')},
)
cli.parse_flags(sys.argv)
print(sorted(dict(holder.value.strategy).items()))
"""


@pytest.mark.parametrize(
    'args,settings',
    [
        # Naming the file's own strategy is no switch: its settings stay, overrides add to them.
        (
            ['--config.strategy_name=rea', '--config.strategy.sample=4'],
            [('population', 10), ('sample', 4)],
        ),
        (['--config.strategy.sample=4'], [('population', 10), ('sample', 4)]),
        (['--config.strategy_name=random'], [('max_tries', 1000), ('replacement', False)]),
        (
            ['--config.strategy_name=nsga2', '--config.strategy.population=6'],
            [
                ('crossover', 0.5),
                ('eliminate', 'population'),
                ('limits', None),
                ('objectives', 2),
                ('patience', 10),
                ('population', 6),
            ],
        ),
    ],
)
def test_settings_follow_the_strategy_name(args, settings):
  assert _printed_by(_SETTINGS_AFTER_PARSE, args) == repr(settings)


_ESTIMATOR_AFTER_PARSE = """
import sys
from experiments import cli
holder = cli.define_config_file(
    'config', 'experiments/configs/discrete_rea.py', 'x',
    switches={'estimator_name': ('estimator', 'experiments.configs.discrete_rea:estimator_section')},
)
cli.parse_flags(sys.argv)
e = holder.value.estimator
print(repr((holder.value.estimator_name, sorted(e), e.get('protocol', {}).get('epochs'), e.seed)))
"""


def test_switching_the_estimator_takes_its_section_and_nested_settings():
  # The live estimator's section comes from the config file's estimator_section, and a setting
  # two levels down (its protocol's epochs) applies over it; the table's keys are gone.
  live = ['space', 'space_name', 'protocol', 'seed', 'network', 'data_dir']
  cases = {
      (): ('tabular', ['report_table', 'seed', 'table'], None, 'random'),
      ('--config.estimator.seed=mean',): (
          'tabular',
          ['report_table', 'seed', 'table'],
          None,
          'mean',
      ),
      ('--config.estimator_name=train', '--config.estimator.protocol.epochs=1'): (
          'train',
          sorted(live),
          1,
          0,
      ),
  }
  for args, expected in cases.items():
    assert _printed_by(_ESTIMATOR_AFTER_PARSE, list(args)) == repr(expected), args


def test_inspect_checks_the_config_values(tmp_path):
  # Past the flags parser: the retraining config's own checks, before anything is built.
  line = _one_line_error(
      _launch('inspect', '--genotype=DARTS_V2', f'--out={tmp_path}/x', '--config.image_size=0')
  )
  assert line.startswith('error: config.image_size must be a positive integer')
  assert not os.path.exists(tmp_path / 'x')


@pytest.mark.parametrize(
    'overrides,message',
    [
        (
            {'strategy': 'gdas', 'tau_min': -1.0},
            'config.strategy.tau_min and config.strategy.tau_max must satisfy '
            '0 < tau_min <= tau_max, got tau_min=-1.0, tau_max=10.0',
        ),
        ({'strategy': 'snas', 'tau_max': 0.01}, 'got tau_min=0.03, tau_max=0.01'),
        (
            {'strategy': 'drnas', 'reg_scale': -0.1},
            'config.strategy.reg_scale must be >= 0, got -0.1',
        ),
        (
            {'strategy': 'fairdarts', 'zero_one_weight': -1.0},
            'config.strategy.zero_one_weight must be >= 0',
        ),
        (
            {'strategy': 'beta_darts', 'beta_decay_max': -5.0},
            'config.strategy.beta_decay_max must be >= 0',
        ),
        (
            {'strategy': 'darts_minus', 'aux_skip_beta': float('nan')},
            'config.strategy.aux_skip_beta must be >= 0',
        ),
    ],
)
def test_strategy_settings_out_of_range_are_one_line(overrides, message):
  config = configure(search_demo.get_config(), **overrides)
  with pytest.raises(search.ConfigError) as e:
    search.validate_config(config)
  assert str(e.value).startswith('config.') and message in str(e.value)
  assert '\n' not in str(e.value)


def test_unreadable_split_names_the_config_key(tmp_path):
  """A split string TFDS cannot read is one line naming the key, and the launchers catch it."""
  from experiments import cli
  from nas_jax import data

  config = search_demo.get_config()  # the offline mnist5k
  for key, split, reason in (
      ('search_train_split', 'bogus', 'cannot read split'),
      ('search_val_split', 'train[:0]', 'corresponds to no data'),
  ):
    config[key] = split
    with pytest.raises(data.SplitError) as e:
      data.search_splits(config)
    assert str(e.value).startswith(f'config.{key}: ') and reason in str(e.value)
    assert repr(split) in str(e.value) and '\n' not in str(e.value)
    config[key] = search_demo.get_config()[key]
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: data.test_split(_with(config, test_split='nope[')))
  assert exit_info.value.code == 2


def _with(config, **overrides):
  config = config.copy_and_resolve_references()
  for key, value in overrides.items():
    config[key] = value
  return config
