"""The ``phigate`` command line (Typer). Commands compose the packages below; no business rules here."""
