"""Models of Attention Atlas: each returns attention as plain data (see DESIGN.md)."""
