"""Error codes of the threat-intelligence room (registered in the shared catalogue; docs/errors.md)."""

from trustface.errors import register

E_INTEL_INVALID = register(
    "E_INTEL_INVALID", 422, ("ISO30107-3",),
    "The file or the TAXII collection does not hold a valid STIX 2.1 bundle (or objects) of attack indicators.",
)
E_TAXII_UNAVAILABLE = register(
    "E_TAXII_UNAVAILABLE", 502, (),
    "The TAXII 2.1 server could not be reached, refused the credentials, or answered with an error.",
)

INTEL_CODES = (E_INTEL_INVALID, E_TAXII_UNAVAILABLE)
