"""I/O adapters: they move bytes between a source and the core, and never frame anything."""
