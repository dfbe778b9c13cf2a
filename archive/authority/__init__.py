"""The name authority: places and people under their preferred names, with variant spellings."""
