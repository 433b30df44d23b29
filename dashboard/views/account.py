"""My account (every signed-in user): change your own password; the current one is required."""

import streamlit as st

from dashboard import auth, ui
from dashboard.passwords import MIN_LENGTH

user = auth.signed_in_user()
st.title("My account")
ui.show_flash()
st.write(f"Signed in as **{ui.plain(user.username)}** ({user.role}).")

st.subheader("Change my password")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", key="own_current")
    new = st.text_input(f"New password (at least {MIN_LENGTH} characters)", type="password", key="own_new")
    confirm = st.text_input("New password again", type="password", key="own_confirm")
    submitted = st.form_submit_button("Change my password", type="primary")
if submitted:
    with ui.explained_database_errors():
        problem = auth.change_own_password(user, current, new, confirm)
    if problem:
        st.error(f"Not changed: {problem}.")
    else:
        ui.flash("Your password is changed. Use the new one from your next sign-in.")
        auth.renew_sign_in(user)  # the change ended this browser's sign-in cookie: a new one
        st.rerun()
