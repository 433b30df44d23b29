"""Users (admins only): the accounts, a form to add teachers (or more admins), and for one account:
reset its password, disable or enable it, change its role, delete it. There is always an enabled
admin left: the last one cannot be disabled, demoted or deleted, and nobody deletes or disables
themselves. Every change is written to the audit log."""

import pandas as pd
import streamlit as st

from dashboard import auth, context, data, privacy, ui

admin = auth.require_role("admin")
st.title("Users")
ui.show_flash()
factory = context.factory()

with ui.explained_database_errors():
    users = data.list_users(factory)
st.dataframe(pd.DataFrame([{"user": u.username, "role": u.role, "status": "disabled" if u.disabled else "enabled",
                            "created (UTC)": f"{u.created_at:%Y-%m-%d %H:%M}"}
                           for u in users]), hide_index=True, key="users_table")

st.subheader("Add an account")
with st.form("add_user", clear_on_submit=True):
    username = st.text_input("User name", key="new_username")
    role = st.selectbox("Role", auth.ROLES, key="new_role",
                        help="Teachers see classes, recordings, reports and students; admins also see the model "
                             "evaluation, the audit log and this page.")
    password = st.text_input("Password (at least 8 characters)", type="password", key="new_password")
    confirm = st.text_input("Password again", type="password", key="new_confirm")
    submitted = st.form_submit_button("Add the account", type="primary")
if submitted:
    with ui.explained_database_errors():
        problem = auth.create_user(username, password, confirm, role, actor=admin.username)
    if problem:
        st.error(f"Not added: {problem}.")
    else:
        ui.flash(f"Added {role} {username.strip()!r}. They can sign in now.")
        st.rerun()


def done(problem: str | None, message: str, refused: str = "Not changed") -> None:
    if problem:
        st.error(f"{refused}: {ui.plain(problem)}.")
    else:
        ui.flash(message)
        st.rerun()


def manage(by_name: dict) -> None:
    """Reset, disable or enable, change the role of, or delete one account."""
    who = st.selectbox("Account", list(by_name), key="manage_who",
                       format_func=lambda n: f"{ui.plain(n)} ({by_name[n].role}"
                                             f"{', disabled' if by_name[n].disabled else ''})")
    target = by_name[who]

    reset, status = st.columns(2)
    with reset:
        with st.form("reset_password", clear_on_submit=True):
            st.markdown("**Reset the password**")
            st.caption("Set a new password and hand it over in person; they can change it on *My account*.")
            new = st.text_input("New password (at least 8 characters)", type="password", key="reset_password")
            again = st.text_input("New password again", type="password", key="reset_confirm")
            if st.form_submit_button("Reset the password"):
                with ui.explained_database_errors():
                    done(auth.reset_password(admin, who, new, again), f"The password of {who!r} is reset.")
    with status:
        with st.form("account_status"):
            st.markdown("**Disable or enable**")
            st.caption("A disabled account cannot sign in, and is signed out at its next click; its records stay.")
            label = "Enable the account" if target.disabled else "Disable the account"
            if st.form_submit_button(label):
                with ui.explained_database_errors():
                    done(auth.set_disabled(admin, who, not target.disabled),
                         f"{who!r} is {'enabled' if target.disabled else 'disabled'}.")

    role_col, delete_col = st.columns(2)
    with role_col:
        with st.form("change_role"):
            st.markdown("**Change the role**")
            new_role = st.selectbox("Role", auth.ROLES, index=auth.ROLES.index(target.role) if target.role in auth.ROLES
                                    else 0, key="change_role_to")
            if st.form_submit_button("Change the role"):
                with ui.explained_database_errors():
                    done(auth.change_role(admin, who, new_role), f"{who!r} is now {new_role}.")
    with delete_col:
        with st.form("delete_user"):
            st.markdown("**Delete the account**")
            sure = st.checkbox(f"Delete the account {ui.plain(repr(who))}; this cannot be undone (the audit log "
                               "keeps its entries)", key="delete_user_sure")
            if st.form_submit_button("Delete the account", icon=":material/delete_forever:"):
                if not sure:
                    st.error("Tick the box to confirm.")
                else:
                    with ui.explained_database_errors():
                        done(auth.delete_account(admin, who), f"The account {who!r} is deleted.", "Not deleted")


st.subheader("Manage an account")
if users:
    manage({u.username: u for u in users})
else:
    st.caption("No accounts yet.")

st.divider()
privacy.admin_settings(factory, auth.audit)  # attention-only mode and the retention period (issue 13)
