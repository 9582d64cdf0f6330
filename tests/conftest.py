"""Test set-up: quiet TensorFlow, persistent compilation cache, tiny configs."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from nas_jax import runtime  # noqa: E402

runtime.enable_compilation_cache()
