"""Access control for gates: a non-face way in is always there (SPC-10, PIPL-16, CAC-10, R6).

This slice holds the parts with no storage: which methods a gate may offer
(:mod:`trustface.access.methods`) and the credentials a resident may hold instead of, or beside,
a face (:mod:`trustface.access.credentials`). Gates, credential records and access decisions in
the database arrive with the access-control service (issue 5).
"""
