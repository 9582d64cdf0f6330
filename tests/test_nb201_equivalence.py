"""The NB201 supernet at one-hot op weights computes the evaluation network of that genotype.

For a genotype ``g``, ``nb201.NB201SearchNetwork`` run with the op weights
``space.one_hot(g)`` and ``nb201.NB201Network(g)`` given the same weights (mapped by
:func:`supernet_to_evalnet_params`) must agree on the logits, on the gradients
of a fixed linear functional of the logits w.r.t. every shared weight and
w.r.t. the input, in train mode (batch statistics) and in eval mode (running
statistics), and on the running statistics after one train-mode forward.

What differs between the two networks, by construction:

* The cells' BatchNorms (inside ``nor_conv_1x1`` / ``nor_conv_3x3``) are
  non-affine in the supernet and affine in the evaluation network. The
  mapping inserts ``scale = 1, bias = 0`` there; with those values flax's
  BatchNorm computes the same numbers (``(x - mean) * rsqrt(var + eps) * 1 +
  0``). Those inserted parameters have no supernet counterpart, so their
  gradients are left out of the gradient comparison (every other eval-net
  gradient is compared).
* The last BatchNorm is ``last_bn`` in the supernet and ``lastact_bn`` in the
  evaluation network (a rename; the same affine BN).
* The supernet also holds the variables of the candidates that ``g`` did
  not choose. Their gradients must be exactly zero (weighted mode: they are
  multiplied by a zero weight; hard mode: they are not computed). Their
  running statistics are updated in weighted mode (every candidate runs)
  and must be left unchanged in hard mode (``nn.switch`` runs one branch).

Nothing else differs: the stem, the residual blocks, the classifier, the
op order within a node and the order in which a node sums its input edges
are the same, so the measured differences are float rounding only (the
tolerances below, relative to the largest magnitude of each compared array:
``RTOL_LOGITS = 1e-5``, ``RTOL_GRADS = 3e-5``, ``RTOL_STATS = 1e-5``).

Covered: weighted mode (the ``none`` candidate contributes zero) with
``scan=False`` (per-cell, per-edge modules), and hard mode (``nn.switch``)
with ``scan=True`` (stage-level and edge-level ``nn.scan``; the variables
carry leading ``(cell, edge)`` axes); three hand-chosen genotypes covering every
op, a dead edge and a dead node, ``cells_per_stage=1`` with 4 channels and
16x16 inputs; batch 4, float32. (With ``cells_per_stage=2`` the scanned
per-cell axis maps the same way; each extra genotype or shape costs a cold
compile of seconds, so the suite keeps these.)
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import re
from typing import Any

import flax
from flax.traverse_util import flatten_dict, unflatten_dict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nas_jax import spaces
from nas_jax.spaces import nb201
from nas_jax.spaces.nb201 import EDGES, NB201Genotype, NB201Network

PRIMITIVES = nb201.NB201_PRIMITIVES
SPACE = spaces.get('nb201')
NUM_CLASSES = 10
BATCH = 4
RTOL_LOGITS = 1e-5
RTOL_GRADS = 3e-5
RTOL_STATS = 1e-5

# Top-level modules that both networks have under the same name, and the renamed one.
_SHARED = ('stem_conv', 'stem_bn', 'reduce_1', 'reduce_2', 'classifier')
_RENAMED = {'last_bn': 'lastact_bn'}
_CONV_OPS = ('nor_conv_1x1', 'nor_conv_3x3')
_CELL = re.compile(r'cell_(\d+)_(\d+)')
_STAGE = re.compile(r'cells_(\d+)')

HAND_GENOTYPES = (
    # Every op; node 3 sums a pool, a dead ('none') edge and a 3x3 conv.
    '|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|',
    # The NB201 ResNet-like cell with a 1x1 conv and a 'none' edge.
    '|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|',
    # Node 1 is dead (its only input edge is 'none'); node 3 reads node 2 only.
    '|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|',
    # Parameter-free but for one conv; two skips into node 2.
    '|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|',
)
# Three of the four hand-built cells: each evaluation network is its own compile (cold cache: ~7 s),
# and together they use every op, a dead edge and a dead node.
GENOTYPES = tuple(NB201Genotype.from_string(s) for s in HAND_GENOTYPES[:3])
CHANNELS = 4
SIZE = 16  # one shape for every cells_per_stage=1 case, so that each network compiles once
# Both modes and both layouts, in two supernets (each a cold compile of ~10 s): the weighted sum
# unscanned, the hard switch scanned. The other two pairings map the same way.
CONFIGS = (('weighted', False), ('hard', True))


# -- The mapping --------------------------------------------------------------------------------


def _chosen_slots(tree: dict, genotype: NB201Genotype):
  """The chosen op of every edge of every cell in one supernet collection (a nested dict).

  Yields ``(eval_prefix, search_prefix, index)``: the eval net's
  ``(cell, edge)`` module path, the path of the chosen candidate's module in
  the supernet tree, and the ``(cell, edge)`` index into the leading axes of
  its leaves (``None`` for the unscanned layout).
  """
  edge_ops = genotype.edge_ops()
  for name, sub in tree.items():
    if m := _CELL.fullmatch(name):  # scan=False: cell_{stage}_{i}/edge_{s}_{t}/[candidates/]op
      for k, (s, t) in enumerate(EDGES):
        edge = f'edge_{s}_{t}'
        if edge not in sub:
          continue
        hard = ('candidates',) if 'candidates' in sub[edge] else ()
        yield (name, edge), (name, edge) + hard + (edge_ops[k],), None
    elif m := _STAGE.fullmatch(name):  # scan=True: cells_{stage}/cell/edges/mixed_op/[...]
      bank = sub['cell']['edges']['mixed_op']
      hard = ('candidates',) if 'candidates' in bank else ()
      cells = jax.tree.leaves(bank)[0].shape[0]
      for i in range(cells):
        for k, (s, t) in enumerate(EDGES):
          yield (
              (f'cell_{m.group(1)}_{i}', f'edge_{s}_{t}'),
              (name, 'cell', 'edges', 'mixed_op') + hard + (edge_ops[k],),
              (i, k),
          )


def _check_search_tree(tree: dict, genotype: NB201Genotype, primitives: Sequence[str]) -> None:
  unknown = [
      n
      for n in tree
      if n not in _SHARED
      and n not in _RENAMED
      and not _CELL.fullmatch(n)
      and not _STAGE.fullmatch(n)
  ]
  if unknown:
    raise ValueError(f'not an NB201SearchNetwork variable tree: unexpected {unknown}')
  missing = [op for op in genotype.edge_ops() if op not in primitives]
  if missing:
    raise ValueError(f'genotype ops {missing} are not among the supernet primitives {primitives}')
  for key in flatten_dict(tree):
    if 'aux_skip' in key:
      raise ValueError('aux_skip supernets have no evaluation-network counterpart')


def supernet_to_evalnet_params(
    search_vars: dict[str, Any],
    genotype: NB201Genotype,
    primitives: Sequence[str] = PRIMITIVES,
    *,
    insert_affine: bool = True,
) -> dict[str, Any]:
  """Maps NB201SearchNetwork variables onto ``NB201Network(genotype, scan_cells=False)``'s.

  Rule, per collection (``'params'``, ``'batch_stats'``, or a gradient tree
  passed as ``{'params': grads}``): the stem, the residual blocks and the
  classifier are copied; ``last_bn`` becomes ``lastact_bn``; for every cell
  ``(stage, i)`` and edge ``s -> t``, the variables of the candidate
  ``genotype`` chose on that edge become ``cell_{stage}_{i}/edge_{s}_{t}``
  (sliced at ``[i, k]`` from the scanned layout, ``k`` the edge's row in
  ``nb201.EDGES``); the other candidates are dropped. With
  ``insert_affine``, each chosen ``nor_conv_*`` gets the affine BN
  parameters that the supernet's non-affine BN lacks: ``scale = 1``,
  ``bias = 0`` (params only).

  Works for both MixedOp modes (weighted: candidates under their op name;
  hard: under ``candidates/``), both ``scan`` settings and any
  ``cells_per_stage``; ``partial`` must be 1 and ``aux_skip`` off.
  """
  _check_search_tree(search_vars.get('params', {}), genotype, primitives)
  out = {}
  for col, tree in flax.core.unfreeze(search_vars).items():
    flat = flatten_dict(tree)
    mapped = {}
    for key, value in flat.items():
      if key[0] in _SHARED:
        mapped[key] = value
      elif key[0] in _RENAMED:
        mapped[(_RENAMED[key[0]],) + key[1:]] = value
    for eval_prefix, search_prefix, index in _chosen_slots(tree, genotype):
      n = len(search_prefix)
      for key, value in flat.items():
        if key[:n] == search_prefix:
          mapped[eval_prefix + key[n:]] = value if index is None else value[index]
      op = search_prefix[-1]
      if insert_affine and col == 'params' and op in _CONV_OPS:
        kernel = mapped[eval_prefix + ('conv', 'kernel')]
        c = kernel.shape[0] if kernel.ndim == 2 else kernel.shape[-1]  # (out, in) or HWIO
        mapped[eval_prefix + ('bn', 'bn', 'scale')] = jnp.ones((c,), kernel.dtype)
        mapped[eval_prefix + ('bn', 'bn', 'bias')] = jnp.zeros((c,), kernel.dtype)
    out[col] = unflatten_dict(mapped)
  return out


def _zero_chosen(tree: dict, genotype: NB201Genotype) -> dict:
  """``tree`` with the chosen candidates' leaves set to zero (what is left: the unchosen ones)."""
  flat = dict(flatten_dict(tree))
  for _, search_prefix, index in _chosen_slots(tree, genotype):
    n = len(search_prefix)
    for key, value in flat.items():
      if key[:n] == search_prefix:
        flat[key] = jnp.zeros_like(value) if index is None else value.at[index].set(0)
  return unflatten_dict(flat)


def _cell_leaves(tree: dict) -> dict:
  return {
      k: v for k, v in flatten_dict(tree).items() if _CELL.fullmatch(k[0]) or _STAGE.fullmatch(k[0])
  }


def one_hot_weights(genotype: NB201Genotype, primitives: Sequence[str] = PRIMITIVES) -> jax.Array:
  """The (6, K) op weights selecting ``genotype``'s op on each edge: the space's ``one_hot``,
  checked against the edge ops by hand."""
  index = [tuple(primitives).index(op) for op in genotype.edge_ops()]
  hand = jax.nn.one_hot(jnp.asarray(index), len(primitives), dtype=jnp.float32)
  w = spaces.get('nb201', primitives).one_hot(genotype)['cell']
  np.testing.assert_array_equal(w, hand)
  return jnp.asarray(w)


# -- Running both networks --------------------------------------------------------------------


def _runner(apply):
  """Jitted ``(variables, x, cotangent, *args)`` -> train and eval outputs of ``apply``.

  ``apply(variables, x, train, *args)`` returns the logits, and in train mode
  the updated variables too. The outputs are the logits, the gradients of
  ``sum(logits * cotangent)`` w.r.t. the params and the input, and (train
  mode) the new running statistics.
  """

  def run(variables, x, cotangent, *args):
    out = {}
    for train in (True, False):

      def loss(params, x, train=train):
        res = apply({'params': params, 'batch_stats': variables['batch_stats']}, x, train, *args)
        logits, stats = (res[0], res[1]['batch_stats']) if train else (res, None)
        return jnp.sum(logits * cotangent), (logits, stats)

      (_, (logits, stats)), (g_params, g_x) = jax.value_and_grad(
          loss, argnums=(0, 1), has_aux=True
      )(variables['params'], x)
      out['train' if train else 'eval'] = dict(
          logits=logits, grads=g_params, grad_x=g_x, stats=stats
      )
    return out

  return jax.jit(run)


def _search_apply(model):
  def apply(variables, x, train, weights):
    return model.apply(
        variables, x, weights, train=train, mutable=['batch_stats'] if train else False
    )

  return apply


def _eval_apply(model):
  def apply(variables, x, train):
    res = model.apply(variables, x, train=train, mutable=['batch_stats'] if train else False)
    return (res[0][0], res[1]) if train else res[0]  # NB201Network returns (logits, None)

  return apply


@functools.cache
def _search_model(mode: str, scan: bool, channels: int, cells: int):
  model = nb201.NB201SearchNetwork(
      NUM_CLASSES,
      channels=channels,
      cells_per_stage=cells,
      primitives=PRIMITIVES,
      mode=mode,
      scan=scan,
  )
  return model, _runner(_search_apply(model))


@functools.cache
def _eval_model(genotype: NB201Genotype, channels: int, cells: int):
  model = NB201Network(genotype, NUM_CLASSES, channels=channels, cells_per_stage=cells)
  return model, _runner(_eval_apply(model))


def _random_variables(shapes: dict, seed: int) -> dict:
  """Random values for a supernet variable tree of shapes (``init`` compiles for seconds).

  Kernels are normal with standard deviation ``1 / sqrt(fan_in)``; BN scales
  ``1 + 0.2 N(0, 1)``; biases (BN and classifier) and running means
  ``0.2 N(0, 1)``; running variances uniform in [0.5, 1.5]; so no affine BN is
  the identity in train mode and no BN is in eval mode.
  """
  rng = np.random.default_rng(seed)
  out = {}
  for path, leaf in sorted(flatten_dict(flax.core.unfreeze(shapes)).items()):
    shape, name = leaf.shape, path[-1]
    if name == 'kernel':  # supernet layouts: Dense (in, out), 1x1 (out, in), 3x3 HWIO
      if path[0] == 'classifier':
        fan_in = shape[0]
      elif 'shortcut' in path or 'nor_conv_1x1' in path:
        fan_in = shape[-1]
      else:
        fan_in = int(np.prod(shape[-4:-1]))
      value = rng.normal(0.0, fan_in**-0.5, shape)
    elif name == 'scale':
      value = 1.0 + 0.2 * rng.normal(size=shape)
    elif name in ('bias', 'mean'):
      value = 0.2 * rng.normal(size=shape)
    elif name == 'var':
      value = rng.uniform(0.5, 1.5, shape)
    else:
      raise AssertionError(f'unexpected variable {"/".join(path)}')
    out[path] = jnp.asarray(value, leaf.dtype)
  return unflatten_dict(out)


def _assert_close(got, want, rtol, what):
  """Every leaf: ``max|got - want| <= rtol * max(max|want|, 1e-3 * max over all leaves)``."""
  got = flatten_dict(got) if isinstance(got, dict) else {(): got}
  want = flatten_dict(want) if isinstance(want, dict) else {(): want}
  assert sorted(got) == sorted(want), f'{what}: the trees differ'
  top = max(float(jnp.max(jnp.abs(v))) for v in want.values())
  for key in want:
    name = ' '.join((what, '/'.join(key))).strip()
    a, b = np.asarray(got[key]), np.asarray(want[key])
    assert a.shape == b.shape, f'{name}: shape {a.shape} vs {b.shape}'
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), f'{name}: not finite'
    err = float(np.max(np.abs(a - b)))
    scale = max(float(np.max(np.abs(b))), 1e-3 * top)
    assert err <= rtol * scale, f'{name}: max |diff| {err:.3g} > {rtol} * {scale:.3g}'


def _compare(genotype, mode, scan, channels, size, cells, seed):
  """Runs both networks on the same weights and checks every comparison listed in the docstring."""
  search, search_run = _search_model(mode, scan, channels, cells)
  eval_model, eval_run = _eval_model(genotype, channels, cells)
  kx, kc, ki = jax.random.split(jax.random.key(seed), 3)
  x = jax.random.normal(kx, (BATCH, size, size, 3), jnp.float32)
  cotangent = jax.random.normal(kc, (BATCH, NUM_CLASSES), jnp.float32)
  weights = {'cell': one_hot_weights(genotype)}

  search_vars = _random_variables(jax.eval_shape(search.init, ki, x, weights), seed)
  eval_vars = supernet_to_evalnet_params(search_vars, genotype)
  # The mapping yields exactly the eval net's variable tree (names and shapes).
  want = jax.eval_shape(eval_model.init, ki, x)
  assert jax.tree.map(lambda a: a.shape, flax.core.unfreeze(want)) == jax.tree.map(
      lambda a: a.shape, eval_vars
  )

  s_out = search_run(search_vars, x, cotangent, weights)
  e_out = eval_run(eval_vars, x, cotangent)
  affine = {
      k
      for k in flatten_dict(e_out['train']['grads'])
      if _CELL.fullmatch(k[0]) and k[-3:-1] == ('bn', 'bn')
  }
  assert all(k[-1] in ('scale', 'bias') for k in affine)
  assert len(affine) == 2 * cells * 3 * sum(op in _CONV_OPS for op in genotype.edge_ops())
  for phase in ('train', 'eval'):
    s, e = s_out[phase], e_out[phase]
    _assert_close(s['logits'], e['logits'], RTOL_LOGITS, f'{phase} logits')
    _assert_close(s['grad_x'], e['grad_x'], RTOL_GRADS, f'{phase} input gradient')
    mapped = supernet_to_evalnet_params({'params': s['grads']}, genotype, insert_affine=False)
    shared = {k: v for k, v in flatten_dict(e['grads']).items() if k not in affine}
    _assert_close(mapped['params'], unflatten_dict(shared), RTOL_GRADS, f'{phase} gradients')
    for key, g in _cell_leaves(_zero_chosen(s['grads'], genotype)).items():
      assert not np.any(np.asarray(g)), f'{phase}: unchosen {"/".join(key)} has a gradient'
  new_stats = supernet_to_evalnet_params({'batch_stats': s_out['train']['stats']}, genotype)
  _assert_close(new_stats['batch_stats'], e_out['train']['stats'], RTOL_STATS, 'running stats')
  if mode == 'hard':  # the candidates that did not run keep their statistics
    before = _cell_leaves(_zero_chosen(search_vars['batch_stats'], genotype))
    after = _cell_leaves(_zero_chosen(s_out['train']['stats'], genotype))
    for key in before:
      np.testing.assert_array_equal(after[key], before[key], err_msg='/'.join(key))


@pytest.mark.parametrize('mode,scan', CONFIGS, ids=[f'{m}-scan{int(s)}' for m, s in CONFIGS])
@pytest.mark.parametrize('case', range(len(GENOTYPES)), ids=lambda c: f'g{c}')
def test_one_hot_supernet_is_the_evaluation_network(case, mode, scan):
  _compare(GENOTYPES[case], mode, scan, CHANNELS, SIZE, cells=1, seed=case)


def test_mapping_rejects_what_it_cannot_map():
  g = GENOTYPES[0]
  with pytest.raises(ValueError, match='not among the supernet primitives'):
    supernet_to_evalnet_params({'params': {}}, g, ('none', 'skip_connect'))
  with pytest.raises(ValueError, match='unexpected'):
    supernet_to_evalnet_params({'params': {'cell_0': {}}}, g)
