"""Results on disk and on screen: summary CSVs, traces, wandb, text tables, figures.

Sits above the methods and below the runs that write through it."""
