"""The version of Orbit's data generator, in a module of its own so that reading it is cheap.

Bump it whenever a change to :mod:`tpmlab.data.generate` changes the data (and its checksums):
cached copies built by another version are rebuilt. Importing this module does not import the
generator (numpy, pandas, scipy), so opening a cached copy stays fast.
"""

GENERATOR_VERSION = "1.2.0"
