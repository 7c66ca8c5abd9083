"""The experiment suite: configs, datasets, models, training, evaluation, reports and the
``spcauchy`` command line. Installed with an extra (``pip install "spcauchy[mnist]"`` or
``[chem]``); the library (``spcauchy``) never imports it."""
