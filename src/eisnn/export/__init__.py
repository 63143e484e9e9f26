"""Exports of trained networks to the tools of the field (docs/exports.md).

- :mod:`eisnn.export.nir_graph` — the network as a NIR graph (``export_nir``, ``load_nir``), for
  neuromorphic hardware and the simulators that import NIR;
- :mod:`eisnn.export.spike_trains` — hidden spike trains as a Neo ``Block`` in a NIX file, for Elephant;
- :mod:`eisnn.export.run` — what both read from a run directory.

Importing this package imports neither ``nir`` nor ``neo``: the submodules do.
"""

from .run import ExportError, RunSnapshot, load_run_snapshot

__all__ = ["ExportError", "RunSnapshot", "load_run_snapshot"]
