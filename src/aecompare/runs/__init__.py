"""The run: one trained model with its resolved settings, scores and metrics, in one folder whose format
:mod:`aecompare.runs.folder` owns."""
