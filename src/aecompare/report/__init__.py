"""Reports: Markdown and self-contained HTML with tables and figures, read from run folders."""

from aecompare.report.build import write_report

__all__ = ["write_report"]
