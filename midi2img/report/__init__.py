"""Reports of an analysis: the terminal table (:mod:`.text`), the self-contained HTML page of one
track (:mod:`.html`) and the index page of a batch (:mod:`.index`)."""

from midi2img.report.html import REPORT_NAME, REPORT_SECTIONS, render_report, write_report
from midi2img.report.index import INDEX_NAME, write_index

__all__ = ["INDEX_NAME", "REPORT_NAME", "REPORT_SECTIONS", "render_report", "write_index",
           "write_report"]
