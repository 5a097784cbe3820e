"""autoinfra: autonomous agents for compute-cluster operations.

The public surface is deliberately small; everything else lives in the subpackages named in
docs/architecture.md. ``import autoinfra`` stays light: no simulator, no plotting, no torch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("autoinfra")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
