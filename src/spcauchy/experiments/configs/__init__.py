"""TOML experiment presets (package data, so they work from an installed wheel)."""
