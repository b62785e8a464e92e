"""The committed full-run records, installed with the package as ``dnnsteps.records``."""
