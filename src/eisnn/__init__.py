"""eisnn: spiking networks with excitatory and inhibitory hidden neurons (Dale's law)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``eisnn.load_nir``, imported on first use: importing eisnn never imports ``nir`` (docs/exports.md)."""
    if name == "load_nir":
        from .export.nir_graph import load_nir

        return load_nir
    raise AttributeError(f"module 'eisnn' has no attribute {name!r}")
