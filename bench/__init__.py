"""The benchmarks behind ``hadir bench`` and the load generator they drive.

Not part of the service: a production install (``pip install .``) does not carry this
package; the test setup installs it (``make .venv/.installed-test``, through
``bench/pyproject.toml``). Each module here that defines ``register_bench(group)``
adds its sub-command to ``hadir bench`` (``service/commands/bench.py``).
"""
