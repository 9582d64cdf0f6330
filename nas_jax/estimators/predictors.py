"""Learned performance predictors: fit on n measured architectures, predict the rest.

Every predictor maps a space's encodings (``space.encode``: ``'onehot'`` or ``'path'``)
to a score, through one function, :func:`fit_predict`:

* ``random_forest``: scikit-learn's ``RandomForestRegressor`` (100 trees);
* ``gradient_boosting``: scikit-learn's ``GradientBoostingRegressor`` (100 stages, depth 3);
* ``mlp_ensemble``: BANANAS' ensemble of Flax MLPs (5 members of 10 x 20 ReLU layers,
  naszilla's 150 epochs of Adam on minibatches of 32 on the mean absolute error;
  ``nas_jax.strategies.discrete.bananas`` fits the same one inside its search), the
  ensemble mean;
* ``gp``: scikit-learn's ``GaussianProcessRegressor``: a constant times an RBF kernel plus
  white noise, hyperparameters by marginal likelihood, targets normalized.

Targets are standardized before fitting and predictions returned in the original units.

References: scikit-learn's estimators as named; the MLP ensemble is naszilla's BANANAS
predictor (``meta_neural_net.py``); the comparison setting (n training cells, the rest
held out) follows White et al., "How Powerful are Performance Predictors in NAS?" (2021).
"""

from __future__ import annotations

import numpy as np

__all__ = ['PREDICTORS', 'fit_predict']

PREDICTORS = ('random_forest', 'gradient_boosting', 'mlp_ensemble', 'gp')


def _sklearn(name: str, seed: int):
  from sklearn import ensemble, gaussian_process  # pylint: disable=import-outside-toplevel
  from sklearn.gaussian_process import kernels  # pylint: disable=import-outside-toplevel

  if name == 'random_forest':
    return ensemble.RandomForestRegressor(n_estimators=100, random_state=seed)
  if name == 'gradient_boosting':
    return ensemble.GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed)
  kernel = kernels.ConstantKernel() * kernels.RBF(length_scale=1.0) + kernels.WhiteKernel(0.1)
  return gaussian_process.GaussianProcessRegressor(
      kernel=kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0
  )


def fit_predict(name: str, x_train, y_train, x_test, seed: int = 0) -> np.ndarray:
  """Fits predictor ``name`` on ``(x_train, y_train)`` and predicts ``x_test`` (n_test,)."""
  if name not in PREDICTORS:
    raise ValueError(f'unknown predictor {name!r}; known: {", ".join(PREDICTORS)}')
  x_train = np.asarray(x_train, np.float32)
  x_test = np.asarray(x_test, np.float32)
  y = np.asarray(y_train, np.float64)
  mean, std = y.mean(), y.std() + 1e-9
  z = (y - mean) / std
  if name == 'mlp_ensemble':
    import jax  # pylint: disable=import-outside-toplevel
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

    from nas_jax.strategies.discrete import bananas  # pylint: disable=import-outside-toplevel

    b = bananas.Bananas()
    keys = jax.random.split(jax.random.key(seed), b.ensemble)
    params = bananas.fit_ensemble(
        keys,
        jnp.asarray(x_train),
        jnp.asarray(z, jnp.float32),
        jnp.ones(len(z), jnp.float32),
        b.layers,
        b.width,
        b.epochs,
        b.learning_rate,
        b.batch_size,
    )
    pred = np.asarray(bananas.predict_ensemble(params, jnp.asarray(x_test), b.layers, b.width))
    pred = pred.mean(0)
  else:
    import warnings  # pylint: disable=import-outside-toplevel

    model = _sklearn(name, seed)
    with warnings.catch_warnings():  # the GP's bounds warnings on tiny training sets
      warnings.simplefilter('ignore')
      model.fit(x_train, z)
    pred = model.predict(x_test)
  return np.asarray(pred, np.float64) * std + mean
