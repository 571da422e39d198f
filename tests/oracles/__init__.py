"""Slow, plainly written oracles for the tests: scalar-loop transcriptions of the spec, written
independently of snnref's kernels (never produced by the code under test).

``oracles.forward``  forward model (RNN and SRM forms), kernels eps / eps_star (spec 1-2)
``oracles.antlr``    ANTLR-family backward rules (spec 3.0-3.5), the timing sums (T3) explicitly
``oracles.tsslbp``   literal loops of the official TSSL-BP backward and loss filters (spec 4, 5.4)
"""
