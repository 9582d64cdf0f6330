"""Defaults shared by every search config (the DARTS reference settings)."""

import ml_collections

from nas_jax import components, spaces


def set_component(c: ml_collections.ConfigDict, kind: str, name: str, **settings):
  """Names component ``name`` in ``c`` (``c.<kind>_name``) with its section ``c.<kind>`` at
  its defaults (``nas_jax.components.section``), then ``settings`` over them. ``kind`` is
  the config key; a discrete config's strategy is ``kind='strategy'`` of registry
  'discrete_strategy' (pass ``registry=``)."""
  registry = settings.pop('registry', kind)
  c[f'{kind}_name'] = name
  c[kind] = components.section(registry, name)
  for key, value in settings.items():
    c[kind][key] = value
  return c


def search_defaults() -> ml_collections.ConfigDict:
  """The DARTS search settings (quark0/darts ``train_search.py``).

  Every key can be overridden on the command line with ``--config.KEY=VALUE``;
  the op set with ``--config.space.primitives=none,sep_conv_3x3`` (or the tuple form
  ``--config.space.primitives="('none','sep_conv_3x3')"``); another strategy with
  ``--config.strategy_name=gdas`` (its settings: ``--config.strategy.tau_max=5``).
  """
  c = ml_collections.ConfigDict()
  # Data.
  c.dataset = 'cifar10'
  c.data_dir = ml_collections.config_dict.placeholder(str)
  c.image_size = ml_collections.config_dict.placeholder(int)  # None: native size
  c.download = ml_collections.config_dict.placeholder(bool)  # None: only if the network is up
  c.search_train_split = 'train[:50%]'
  c.search_val_split = 'train[50%:]'
  c.test_split = 'test'
  c.augment = True  # random crop (and flip where the dataset allows), as DARTS does on both halves
  # Method (nas_jax/strategies): darts gdas snas pcdarts drnas darts_minus fairdarts beta_darts;
  # config.strategy holds its settings at their paper defaults (--config.strategy.tau_max=...).
  set_component(c, 'strategy', 'darts')
  c.arch_warmup_epochs = 0  # alpha frozen for this many epochs (PC-DARTS: 15)
  # Search space (nas_jax.spaces): 'darts' or 'nb201' (there layers = cells per stage);
  # config.space holds its settings: the op set primitives (a tuple, so the command line can
  # set it: --config.space.primitives=none,sep_conv_3x3), and DARTS' steps and multiplier.
  # Naming another space on the command line switches the section, op set included.
  set_component(c, 'space', 'darts')
  c.stem_multiplier = 3
  c.layers = 8
  c.init_channels = 16
  # Bilevel optimization.
  c.order = 1
  # Cost-aware search (nas_jax.costs, components.cost_term): name '' (none), 'params', 'flops',
  # 'latency', 'memory_inference' or 'memory_training'; target in its unit (parameters,
  # multiply-adds, microseconds, bytes); weight is lambda (form 'additive') or beta
  # ('multiplicative'). channels/layers: the evaluation network the cost describes (0: the
  # search's init_channels/layers).
  c.cost = ml_collections.ConfigDict()
  c.cost.name = ''
  c.cost.target = 0.0
  c.cost.weight = 0.0
  c.cost.form = 'additive'
  c.cost.channels = 0
  c.cost.layers = 0
  c.cost.latency_table = ''
  c.cost.latency_batch = 1
  # memory_inference / memory_training (bytes): a table of python -m experiments.memory_table.
  c.cost.memory_table = ''
  c.cost.memory_batch = 64
  # hard: the target also constrains the derived cell (costs.constrained_derive).
  c.cost.hard = False
  # measured (latency or memory, hard): the final cell is timed (latency) or compiled and its
  # peak read (memory) here, and re-derived until it meets the target.
  c.cost.measured = False
  # fill (hard): the Lagrangian's cell is improved greedily within the budget (costs.fill_gap).
  c.cost.fill = False
  c.epochs = 50
  c.batch_size = 64
  c.learning_rate = 0.025
  c.learning_rate_min = 0.001
  c.momentum = 0.9
  c.weight_decay = 3e-4
  c.grad_clip = 5.0
  c.arch_learning_rate = 3e-4
  c.arch_beta1 = 0.5
  c.arch_beta2 = 0.999
  c.arch_weight_decay = 1e-3
  # Run.
  c.seed = 0
  c.num_seeds = 1  # K > 1: K independent searches (seeds seed..seed+K-1) in one vmapped program
  # Parallelism (nas_jax/parallel.py): the batch is split over num_devices devices (0: all).
  c.num_devices = 0
  c.num_processes = 1  # > 1: multi-host; run one process per host with its process_id
  c.process_id = 0
  c.coordinator_address = ''  # host:port of process 0 when num_processes > 1
  c.depthwise_impl = 'auto'  # 'toeplitz' on CPU, 'grouped' on GPU (see benchmarks/README.md)
  # 'scan': node-to-node edges in one scan (fast compile); 'unroll': one vmap per
  # source node (faster steps at the paper size, slower compile). See nas_jax/spaces/darts/supernet.py.
  c.node_edges = 'scan'
  # The step's phases: 'scan' (one network trace), 'unroll' (one per phase; XLA:CPU runs
  # real convolutions ~25x slower inside a loop) or 'auto' (unroll in the nb201 space).
  c.phase_loop = 'auto'
  c.remat = (
      False  # True: recompute depthwise row taps in the backward pass (paper step 37.7 -> 33.6 s)
  )
  c.max_steps_per_epoch = -1  # >0 truncates epochs (smoke tests)
  c.log_every = 0  # >0: a progress line every N steps within an epoch
  c.checkpoint_every = 200  # steps; checkpoints are also written at every epoch end
  c.keep_checkpoints = 2
  c.tensorboard = True
  return c


def train_defaults() -> ml_collections.ConfigDict:
  """The DARTS retraining settings (quark0/darts ``train.py``) for CIFAR-10."""
  c = ml_collections.ConfigDict()
  # What to train.
  # A published name (nas_jax.spaces.darts.genotype.NAMED_GENOTYPES) or a file path; for network 'nb201',
  # the NB201 string form ('|nor_conv_3x3~0|+|...~0|...~1|+|...~0|...~1|...~2|') or a file.
  c.genotype = 'DARTS_V2'
  # The space the genotype belongs to (nas_jax.spaces), as in a search config: 'darts' or
  # 'nb201' (--config.space_name=nb201), its settings in config.space.
  set_component(c, 'space', 'darts')
  # The space's evaluation network; None: its first. DARTS: 'cifar' (NetworkCIFAR) or
  # 'imagenet' (NetworkImageNet, mobile setting); NB201: 'nb201' (its network has no auxiliary
  # head and no drop path: auxiliary_weight = drop_path_prob = 0).
  c.network = ml_collections.config_dict.placeholder(str)
  c.layers = 20  # cells L; for 'nb201': cells per stage N (3 stages, 3N cells)
  c.init_channels = 36  # C (for 'nb201': the first stage's channels; 2C and 4C follow)
  # Data.
  c.dataset = 'cifar10'
  c.data_dir = ml_collections.config_dict.placeholder(str)
  c.image_size = ml_collections.config_dict.placeholder(int)
  c.download = ml_collections.config_dict.placeholder(bool)
  c.train_split = 'train'
  c.test_split = 'test'
  c.cutout_length = 16  # 0: no cutout
  # Optimization.
  c.epochs = 600
  c.batch_size = 96
  c.learning_rate = 0.025
  c.learning_rate_min = 0.0
  c.lr_schedule = 'cosine'  # per epoch; 'exponential': learning_rate * lr_decay ** epoch
  c.lr_decay = 0.97
  c.label_smoothing = 0.0
  c.momentum = 0.9
  c.nesterov = False  # True: Nesterov momentum (torch.optim.SGD(nesterov=True); NB201's recipe)
  c.weight_decay = 3e-4
  c.grad_clip = 5.0  # 0: no clipping
  c.auxiliary_weight = 0.4  # 0: no auxiliary head
  c.drop_path_prob = 0.2  # reached at the last epoch, rising linearly from 0
  # Run.
  c.seed = 0
  c.eval_batch_size = 500
  c.eval_every = 0  # >0: test accuracy every N epochs (always after the last)
  c.checkpoint_every = 500  # steps; checkpoints are also written at every epoch end
  c.keep_checkpoints = 2
  c.tensorboard = True
  c.log_every = 50
  c.max_steps_per_epoch = -1
  c.num_devices = 0
  c.num_processes = 1
  c.process_id = 0
  c.coordinator_address = ''
  c.depthwise_impl = 'auto'
  # Same-shape consecutive cells as one nn.scan (compile time). Set False for 'nb201' on CPU:
  # XLA:CPU runs its 3x3 convolutions inside a scan ~50x slower (see nas_jax/spaces/nb201/evalnet.py).
  c.scan_cells = True
  return c


# The search settings each space's papers use, applied with the space (:func:`use_space`):
# NB201's DARTS-V1 search runs C=16, N=5 cells per stage and weight decay 5e-4.
SEARCH_OVERRIDES = {
    'nb201': {'layers': 5, 'init_channels': 16, 'weight_decay': 5e-4},
}


def use_space(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """Switches a search config to space ``name``: its own settings and op set, and its papers'
  search settings (:data:`SEARCH_OVERRIDES`)."""
  set_component(c, 'space', name)
  for key, value in SEARCH_OVERRIDES.get(name, {}).items():
    c[key] = value
  return c


def nb201_search(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The NAS-Bench-201 space with NB201's search settings (its DARTS-V1 search: batch 64,
  50 epochs, SGD 0.025 -> 0.001, weight decay 5e-4, clip 5; plain momentum here)."""
  return use_space(c, 'nb201')


PAPER_COST = (
    "a paper config's supernet is a GPU job: a DARTS-space step at paper size takes about "
    '36 s on the 2-core CPU (docs/performance.md); `experiments.compare` runs every strategy '
    "at demo size instead. CIFAR-10 must be prepared in TFDS' data_dir beforehand when the "
    'machine is offline.'
)


def paper_search(strategy: str, arg, settings: dict, **per_space) -> ml_collections.ConfigDict:
  """A paper's search config: :func:`search_defaults` with ``strategy``, the run ``settings``
  (keys of the config; ``strategy`` a dict of the strategy's own), then the space ``arg``
  names and that space's own overrides (:func:`space_variant`)."""
  c = search_defaults()
  settings = dict(settings)
  set_component(c, 'strategy', strategy, **settings.pop('strategy', {}))
  for key, value in settings.items():
    c[key] = value
  return space_variant(c, arg, **per_space)


def space_variant(c: ml_collections.ConfigDict, arg, **per_space):
  """``arg``: a space name (default 'darts'); applies :func:`use_space` and then the overrides
  given for that space, e.g. ``space_variant(c, arg, nb201={'batch_size': 32})``."""
  arg = arg or 'darts'
  if arg not in spaces.NETWORK_NAMES:
    raise ValueError(
        f'unknown config variant {arg!r}; use one of '
        f'{", ".join(":" + n for n in spaces.NETWORK_NAMES)}'
    )
  use_space(c, arg)
  for key, value in (per_space.get(arg) or {}).items():
    if isinstance(value, dict):  # a section's settings: {'space': {'primitives': ...}}
      c[key].update(value)
    else:
      c[key] = value
  return c
