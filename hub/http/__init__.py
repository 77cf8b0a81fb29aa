"""The HTTP front door: the FastAPI app, its typed dependencies and one module per resource.

Routes are thin: they read the request, call a use case with stores and the reader, and shape
the answer. Nothing below this package imports it."""
