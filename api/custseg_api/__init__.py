"""custseg's real-time API: a thin FastAPI layer over the custseg extension (see README.md, "The API")."""
