"""The Streamlit dashboard: live class, recordings, session reports, students, model
evaluation and users, over the database the engine writes.

It reads the database through ``db`` and starts the engine only as a subprocess (its CLI);
it never imports the engine or the model code, and nothing imports it.
"""
