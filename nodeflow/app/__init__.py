"""The desktop editor (PySide6). Importing it never imports torch: models load inside node functions."""
