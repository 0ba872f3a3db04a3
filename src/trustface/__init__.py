"""trustface: face recognition people can trust.

The engine (``trustface.engine``) is pure computation on arrays; everything that touches a
subject's face data goes through ``trustface.policy.gate.authorize`` first.
"""

__version__ = "0.1.0"
