"""Reports: documents (Markdown and self-contained HTML), figures and table cells. The report layer renders;
what goes into a study's report lives with the study (:mod:`aecompare.studies`)."""
