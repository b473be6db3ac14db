"""Figures, data files and progress display shared by the subcommands."""
