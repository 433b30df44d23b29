"""Training and evaluation of the facial-expression CNN (FER2013).

The engine imports only :mod:`training.labels`, :mod:`training.preprocessing` and
:mod:`training.modelio` from here, so that a face is prepared the same way in
training, evaluation and live analysis.
"""
