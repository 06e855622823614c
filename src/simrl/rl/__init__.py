"""The SB3 adapter: algorithms by name, hyper-parameters to constructor arguments, safe load/save."""
