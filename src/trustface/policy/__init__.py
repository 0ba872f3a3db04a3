"""Policy: purposes, modes, legal bases, jurisdiction profiles, the consent ledger, the gate
(``gate.authorize() -> Grant | Denial``), retention purges, and the policy error codes.

Modules: :mod:`.codes` (error catalogue), :mod:`.profiles` (cn / eu / us-il data files),
:mod:`.sites` (tenants, sites, purposes, notices, PIAs, legal bases, signage, site suspension),
:mod:`.ledger` (subjects, consents, refusals, withdrawal, subject suspension), :mod:`.gate`,
:mod:`.retention`.
"""

from trustface.policy import codes  # noqa: F401  (registers the policy error codes)
