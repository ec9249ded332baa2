"""Studies: the grid comparison, Patuzzo's convergence study and generation, each a plug-in in its own folder
(spec, run, report blocks) registered in :mod:`aecompare.studies.registry`."""
