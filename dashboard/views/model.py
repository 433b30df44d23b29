"""Model evaluation (admins only): the stored evaluations (confusion matrix, per-class
precision/recall/F1, top-2), the model cards, and our accuracy beside published figures."""

import pandas as pd
import streamlit as st

from dashboard import auth, charts, context, data, model_cards, ui
from dashboard.analytics import EMOTIONS
from dashboard.face_grid import face_grid_html
from db.connection import safe_url

MAX_FACES = 24

auth.require_role("admin")
st.title("Model evaluation")
settings = context.settings()
factory = context.factory()

cards = model_cards.read_cards(settings.models_dir)
with ui.explained_database_errors():
    evaluations = data.evaluations(factory)

st.subheader("Our models beside published results")
st.caption("FER2013 PrivateTest accuracy (3,589 faces never used for training or model selection). Grey bars are "
           "published figures; a range is drawn as its top with a line down to its bottom.")
st.plotly_chart(charts.accuracy_comparison(model_cards.comparison_rows(cards, evaluations)), key="comparison_chart")

if cards:
    st.subheader("Model cards")
    table = model_cards.cards_table(cards)
    st.dataframe(table, hide_index=True, key="cards_table", column_config={
        c: st.column_config.NumberColumn(format="percent") for c in
        ("PublicTest", "PrivateTest", "PrivateTest + flip TTA", "PrivateTest top-2")})
else:
    st.caption(f"No model cards in {settings.models_dir} yet: `python -m training train` writes one beside each model.")

st.subheader("Stored evaluations")
command = f"python -m training evaluate --model models/fer_fast.keras --split PrivateTest --db {safe_url(settings.db_url)}"
if not evaluations:
    st.info("No evaluation has been stored in this database yet. Create one with:", icon=":material/info:")
    st.code(command, language="bash")
    st.stop()

by_id = {e.id: e for e in evaluations}
chosen = st.selectbox("Evaluation", list(by_id), format_func=lambda i: by_id[i].label, key="evaluation_pick")
ev = by_id[chosen]
cols = st.columns(3)
cols[0].metric("Accuracy", f"{ev.accuracy:.1%}")
cols[1].metric("Top-2 accuracy", f"{ev.top2:.1%}", help="The true label is one of the model's two best guesses.")
cols[2].metric("Faces", f"{ev.n:,}")

left, right = st.columns([3, 2])
with left:
    normalise = st.toggle("Show shares of each true class (row-normalised)", value=False, key="confusion_normalise")
    labels = list(ev.per_class) or list(EMOTIONS)
    st.plotly_chart(charts.confusion_heatmap(ev.confusion, labels, normalise), key="confusion_chart")
with right:
    st.markdown("**Per class**")
    per_class = pd.DataFrame([{"emotion": k, **v} for k, v in ev.per_class.items()])
    st.dataframe(per_class, hide_index=True, key="per_class_table", column_config={
        c: st.column_config.NumberColumn(format="percent") for c in ("precision", "recall", "f1")})
st.caption(f"Add another: `{command}` (add `--tta` for the mirrored-face average).")

st.subheader("Misclassified faces")
wrong = model_cards.read_misclassified(settings.models_dir, ev.model_name)
if wrong is None:
    st.caption(f"Examples appear here when `models/{ev.model_name}.misclassified.npz` exists (arrays `images` "
               "(N, 48, 48) uint8, `true` and `pred` label indices): `python -m training evaluate --misclassified 32` writes it.")
else:
    n = min(MAX_FACES, len(wrong.images))
    st.caption(f"{n} faces of {ev.model_name}'s test split it read wrongly: true label, then what the model read.")
    captions = [f"{EMOTIONS[int(wrong.true[k])]} read as {EMOTIONS[int(wrong.pred[k])]}" for k in range(n)]
    st.markdown(face_grid_html(wrong.images[:n], captions), unsafe_allow_html=True)
