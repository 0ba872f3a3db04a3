"""Compliance: rule packs as data, a self-assessment from the live system, notices, PIAs, reports.

* :mod:`~trustface.compliance.packs` - YAML rule packs keyed by requirement IDs (cn-spc-2021,
  cn-pipl, cn-cac-2025, cn-gbt41819, eu-gdpr, us-il-bipa) and the check catalogue
* :mod:`~trustface.compliance.checks` - the named checks over a site's live state
* :mod:`~trustface.compliance.assessment` - :func:`assess` (findings with evidence) and :func:`record`
* :mod:`~trustface.compliance.report` - JSON, HTML and PDF reports with small SVG charts
* :mod:`~trustface.compliance.notices` - processing rules generated from the configuration, zh/en
* :mod:`~trustface.compliance.pia` - PIA/DPIA drafts and approval

>>> with dep.transaction() as s:
...     result = assess(s, site_id, directory=dep.directory)
>>> report.render(result, "pdf")
"""

from trustface.compliance import packs, report
from trustface.compliance.assessment import assess, record

__all__ = ["assess", "packs", "record", "report"]
