"""The English templates of the codes models/ raise or return (models.messages), one module per area.

Each module defines TEMPLATES = {"<area>.<name>": N_("English template with {fields}")}; ui.messages merges
them. A code's fields are its parameters' names.
"""
