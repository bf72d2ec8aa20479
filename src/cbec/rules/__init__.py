"""See DESIGN.md for what this layer is for."""
