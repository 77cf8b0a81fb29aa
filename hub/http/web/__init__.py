"""Server-rendered pages for practitioners (the midwife's alert inbox)."""
