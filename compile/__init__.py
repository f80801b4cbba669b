"""Compiling the reports of a subtree for the standing agency: the data (``data``), an XLSX
workbook (``xlsx``), a DOCX draft report (``docx``), PNG charts (``charts``), signed download
links (``links``) served by ``bdg serve`` (``web``) and ``bdg export`` (``cli``).

Compiled numbers come from the latest submitted version of each unit's report only; drafts
never count. Headings come from the report form (``services/forms/data/bdg_report.yaml``),
so a province that changes its indicators changes its compiled tables too.
"""
