"""What every space's genotype files share: the one-line error and reading a text file."""

from __future__ import annotations

from nas_jax.util import one_line


class GenotypeError(ValueError):
  """Raised for an invalid genotype or an unreadable genotype description.

  The message is always a single line naming what is wrong.
  """


def read_text(path: str) -> str:
  """Reads a UTF-8 text file, mapping failures to :class:`GenotypeError`."""
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except FileNotFoundError:
    raise GenotypeError(f'genotype file {path!r} does not exist') from None
  except IsADirectoryError:
    raise GenotypeError(f'genotype file {path!r} is a directory, not a file') from None
  except UnicodeDecodeError as e:
    raise GenotypeError(f'genotype file {path!r} is not UTF-8 text (byte {e.start})') from None
  except OSError as e:
    raise GenotypeError(
        f'genotype file {path!r} cannot be read: ' f'{one_line(e.strerror or str(e))}'
    ) from None
