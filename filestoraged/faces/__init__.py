"""The HTTP faces: each registers its routes and turns requests into storage calls."""
