"""The report's figures, one module each; `style` holds what they share. Adding a figure is one
module here and one block in the template."""
