"""Every named configuration, as code: one module per experiment kind (see its docstring)."""
