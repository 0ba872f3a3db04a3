"""Error codes of the API layer itself (registered in the shared catalogue)."""

from trustface.errors import register

E_METHOD_NOT_ALLOWED = register("E_METHOD_NOT_ALLOWED", 405, (), "The route does not accept this HTTP method.")
E_INTERNAL = register("E_INTERNAL", 500, (),
                      "An unexpected server error; nothing was changed. Report it with the time.")
