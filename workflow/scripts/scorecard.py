"""Score the paper's claims against the run tables (eisnn.reproduction); write CSV, Markdown, HTML, figure."""

from eisnn.errors import logged_to
from eisnn.figures.scorecard import build_scorecard_figure
from eisnn.figures.tables import build_table
from eisnn.reproduction import load_claims, read_experiment_runs, score, write_scorecard

out, title = snakemake.output, snakemake.params.title
with logged_to(snakemake.log[0]):
    scorecard = score(load_claims(snakemake.input.claims), read_experiment_runs(snakemake.params.experiments))
    write_scorecard(scorecard, out.table, out.markdown, title)
    build_table("scorecard", out.table, out.html, title)
    build_scorecard_figure(out.table, str(out.png).removesuffix(".png"), title)
