"""Pure tensor numerics (no distribution classes, no layers)."""
