"""Attack intelligence shared as STIX 2.1 over TAXII 2.1, without ever sharing a face.

* :mod:`.stix`: the local blocklist (probe hashes, perceptual hashes, client and device
  identifiers seen in attacks) as a STIX 2.1 bundle: one attack-pattern per attack species, one
  indicator per blocklisted value, one sighting per indicator (count, first and last seen), all
  reported by a pseudonymous identity of the deployment. Import puts others' indicators on the
  blocklist at once.
* :mod:`.taxii`: push and pull through a TAXII 2.1 collection with ``taxii2-client``.

Never in a bundle: templates, descriptors, images, landmarks, subject ids, names (tests/intel).
Docs: docs/liveness.md, "Sharing attack intelligence".
"""

from trustface.intel.codes import E_INTEL_INVALID, E_TAXII_UNAVAILABLE  # noqa: F401
