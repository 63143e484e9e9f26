"""The paper's figures, one module per figure, all drawn with the look of :mod:`eisnn.figures.style`.

- :mod:`~eisnn.figures.fig1` — 1b sample activity (``probe.h5``); 1c/1d accuracy vs initial rate.
- :mod:`~eisnn.figures.fig2` — 2b accuracy vs update noise; 2c-e difference from 100:0 with stars.
- :mod:`~eisnn.figures.fig3` — per-class accuracy vs activity and % excitatory across training.
- :mod:`~eisnn.figures.fig4` — three representative runs (low/moderate/high initial activity).
- :mod:`~eisnn.figures.fig5` — Van Rossum distance distributions, E-E / E-I / I-I.
- :mod:`~eisnn.figures.supplementary` — ISI and firing-frequency distributions, E vs I.
- :mod:`~eisnn.figures.tables` — Tables 2/3, t-tests and the run table as HTML for the report.

Every ``plot_*`` function takes DataFrames (or paths) and returns ``(matplotlib Figure, tidy
DataFrame of what it plotted)``; every ``build_*`` function also writes ``<stem>.pdf``,
``<stem>.png`` and ``<stem>.data.csv`` (:func:`eisnn.figures.style.write_figure`).
"""
