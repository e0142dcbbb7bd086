"""Group a folder of images by how far each lies from the collection's mean image.

The numeric core lives in :mod:`report.analysis` and needs nothing but numpy; the rest of the
package turns a TOML config into a self-contained HTML report around it.
"""

import os

# OpenBLAS splits a matrix product between as many threads as the machine has processors, and
# the split changes the last bits of the principal components, so the page would differ between
# a laptop and CI. One thread, set before numpy loads, gives the same bits on any machine of the
# same kind, and spares the start-up of a thread pool the decoding never uses (numpy's import
# took twice as long with it on two busy cores). A value the user sets still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
