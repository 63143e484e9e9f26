"""eisnn: spiking networks with excitatory and inhibitory hidden neurons (Dale's law)."""

__version__ = "0.1.0"
