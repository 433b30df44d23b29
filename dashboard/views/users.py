"""Users (admins only): the accounts, and a form to add teachers (or more admins)."""

import pandas as pd
import streamlit as st

from dashboard import auth, context, data, ui

auth.require_role("admin")
st.title("Users")
ui.show_flash()
factory = context.factory()

with ui.explained_database_errors():
    users = data.list_users(factory)
st.dataframe(pd.DataFrame([{"user": u.username, "role": u.role, "created (UTC)": f"{u.created_at:%Y-%m-%d %H:%M}"}
                           for u in users]), hide_index=True, key="users_table")

st.subheader("Add an account")
with st.form("add_user", clear_on_submit=True):
    username = st.text_input("User name", key="new_username")
    role = st.selectbox("Role", auth.ROLES, key="new_role",
                        help="Teachers see classes, recordings, reports and students; admins also see the model "
                             "evaluation and this page.")
    password = st.text_input("Password (at least 8 characters)", type="password", key="new_password")
    confirm = st.text_input("Password again", type="password", key="new_confirm")
    submitted = st.form_submit_button("Add the account", type="primary")
if submitted:
    with ui.explained_database_errors():
        problem = auth.create_user(username, password, confirm, role)
    if problem:
        st.error(f"Not added: {problem}.")
    else:
        ui.flash(f"Added {role} {username.strip()!r}. They can sign in now.")
        st.rerun()
