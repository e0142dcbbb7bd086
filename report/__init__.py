"""Group a folder of images by how far each lies from the collection's mean image.

The numeric core lives in :mod:`report.analysis` and needs nothing but numpy; the rest of the
package turns a TOML config into a self-contained HTML report around it.
"""

__version__ = "0.1.0"
