"""Experiments: many runs and what they show.

``sweep.py`` expands a sweep file (read by ``sweep_file.py``; option names mapped once in
``run_options.py``) into jobs and runs them, resumably, in local processes or on Ray
(``launch.py``); ``compress.py`` builds the ultimate-compression ladder as a sweep;
``report/`` reads finished run directories and writes statistics, tables and plots, with the
pure statistics in ``stats.py``, method comparisons in ``comparisons.py``, the compression
search in ``compression.py``, the diagnostics view in ``report_diagnostics.py`` and drawing
in ``plots.py``. See docs/experiments.md and docs/report.md.
"""
