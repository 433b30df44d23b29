"""Model evaluation (admins only): each shipped model's FER2013 PrivateTest evaluation from its
card (no data set needed), the evaluations stored in the database, an evaluation on the school's
own labelled faces (dashboard/labelled_faces.py), and our accuracy beside published figures."""

import pandas as pd
import streamlit as st

from dashboard import alert_feedback, auth, charts, context, data, labelled_faces, model_cards, ui
from dashboard.analytics import EMOTIONS
from dashboard.face_grid import face_grid_html
from db.connection import safe_url

MAX_FACES = 24
FACES_RESULT = "faces_evaluation"  # session state: the last evaluation on the school's faces
FACES_STORED = "faces_evaluation_stored"  # session state: the name it was just stored under

auth.require_role("admin")
st.title("Model evaluation")
settings = context.settings()
factory = context.factory()

cards = model_cards.read_cards(settings.models_dir)
with ui.explained_database_errors():
    evaluations = data.evaluations(factory)


def show_evaluation(accuracy: float, top2: float, n: int, per_class: dict, confusion: list, key: str) -> None:
    """Accuracy, top-2 and faces; the confusion matrix beside the per-class table."""
    cols = st.columns(3)
    cols[0].metric("Accuracy", f"{accuracy:.1%}")
    cols[1].metric("Top-2 accuracy", f"{top2:.1%}", help="The true label is one of the model's two best guesses.")
    cols[2].metric("Faces", f"{n:,}")
    left, right = st.columns([3, 2])
    with left:
        normalise = st.toggle("Show shares of each true class (row-normalised)", value=False, key=f"{key}_normalise")
        labels = list(per_class) or list(EMOTIONS)
        st.plotly_chart(charts.confusion_heatmap(confusion, labels, normalise), key=f"{key}_chart")
    with right:
        st.markdown("**Per class**")
        table = pd.DataFrame([{"emotion": k, **v} for k, v in per_class.items()])
        st.dataframe(table, hide_index=True, key=f"{key}_per_class", column_config={
            c: st.column_config.NumberColumn(format="percent") for c in ("precision", "recall", "f1")})


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
    st.caption("No model cards in the models folder yet: `python -m training train` writes one beside each model.")

# -- the shipped models' own evaluation, from their cards: on any install, without the data set --
evaluated = {c.name: c for c in cards if c.evaluation("private_test")}
if evaluated:
    st.subheader("Shipped models on FER2013 PrivateTest")
    st.caption("From each model's card, measured when it was made on the 3,589 PrivateTest faces; "
               "no data set is needed to show it.")
    pick_col, mirror_col = st.columns([2, 3])
    card = evaluated[pick_col.selectbox("Model", list(evaluated), key="card_pick")]
    with_mirror = card.evaluation("private_test_flip_tta") is not None and mirror_col.toggle(
        "Each face read with its mirror image too (as the engine reads faces)", value=False, key="card_tta")
    figures = card.evaluation("private_test_flip_tta" if with_mirror else "private_test")
    show_evaluation(figures.accuracy, figures.top2, figures.n, figures.per_class, figures.confusion, "card_confusion")
    if figures.command:
        st.caption("Written into the card by (run in the project's folder):")
        st.code(figures.command, language="bash", wrap_lines=True)

# -- evaluations stored in this database (the training CLI's --db, or the school's faces below) --
st.subheader("Stored evaluations")
command = ("python -m training evaluate --model models/fer_fast.keras --data fer2013.csv.gz --split PrivateTest "
           f"--db {safe_url(settings.db_url)}")
data_note = ("Run it in the project's folder; `fer2013.csv.gz` is the FER2013 challenge file (or a folder of its "
             "images). Add `--tta` to read each face with its mirror image too.")
if not evaluations:
    st.info("No evaluation has been stored in this database yet. The shipped models' own figures are above; "
            "evaluate on your school's faces below, or store a FER2013 evaluation with:", icon=":material/info:")
    st.code(command, language="bash", wrap_lines=True)
    st.caption(data_note)
else:
    by_id = {e.id: e for e in evaluations}
    chosen = st.selectbox("Evaluation", list(by_id), format_func=lambda i: by_id[i].label, key="evaluation_pick")
    ev = by_id[chosen]
    show_evaluation(ev.accuracy, ev.top2, ev.n, ev.per_class, ev.confusion, "confusion")
    with st.expander("Store another FER2013 evaluation", icon=":material/terminal:"):
        st.code(command, language="bash", wrap_lines=True)
        st.caption(data_note)

    # A FER2013 evaluation's sample of misread faces, when the CLI wrote one beside the model (the
    # school's own misread faces are never written; they are shown below while the page is open).
    wrong = model_cards.read_misclassified(settings.models_dir, ev.model_name) if ev.split in labelled_faces.FER_SPLITS else None
    if ev.split in labelled_faces.FER_SPLITS:
        st.markdown("**Misclassified faces**")
    if ev.split in labelled_faces.FER_SPLITS and wrong is None:
        st.caption(f"Examples appear here when `models/{ev.model_name}.misclassified.npz` exists (arrays `images` "
                   "(N, 48, 48) uint8, `true` and `pred` label indices); this writes it:")
        st.code(f"python -m training evaluate --model models/{ev.model_name}.keras --data fer2013.csv.gz "
                "--split PrivateTest --misclassified 32", language="bash", wrap_lines=True)
    elif wrong is not None:
        n = min(MAX_FACES, len(wrong.images))
        st.caption(f"{n} faces of {ev.model_name}'s test split it read wrongly: true label, then what the model read.")
        captions = [f"{EMOTIONS[int(wrong.true[k])]} read as {EMOTIONS[int(wrong.pred[k])]}" for k in range(n)]
        st.markdown(face_grid_html(wrong.images[:n], captions), unsafe_allow_html=True)

# -- the question that matters: the model on the school's own faces --
st.subheader("Your school's faces")
models = {c.name: c.path.with_suffix(".keras") for c in cards if c.path.with_suffix(".keras").exists()}
if not data.emotions_enabled(factory):
    st.info("Emotion reading is switched off for this school, so no model reads faces here either.",
            icon=":material/visibility_off:")
elif not models:
    st.caption("No model file in the models folder to evaluate.")
else:
    st.caption("Upload a zip with one folder per emotion (angry, disgust, fear, happy, sad, surprise, neutral; "
               "also happiness, anger, surprised, ...) of face pictures, e.g. `happy/anna.jpg`. A picture of at "
               "most 128 pixels a side is taken as the face itself; in a larger one the engine's face detector finds "
               "the face (the largest, if several). The pictures are read on this server and deleted right after; "
               "only the figures are stored, and only when you store them.")
    if FACES_STORED in st.session_state:
        st.success(f"Stored as '{ui.plain(st.session_state.pop(FACES_STORED))}': choose it under Stored evaluations.",
                   icon=":material/check_circle:")
    upload = st.file_uploader("Labelled faces (zip)", type=["zip"], key="faces_upload")
    model_col, mirror_col = st.columns([2, 3])
    model_name = model_col.selectbox("Model", list(models), key="faces_model")
    mirror = mirror_col.toggle("Read each face with its mirror image too (as the engine does)", value=True,
                               key="faces_tta")
    if st.button("Evaluate", type="primary", key="faces_start", icon=":material/play_arrow:", disabled=upload is None):
        bar = st.progress(0.0, text="Reading the archive...")

        def advance(done: int, total: int) -> None:
            text = (f"Finding faces: {done:,} of {total:,} pictures" if done < total
                    else f"{model_name} is reading the faces...")
            bar.progress(done / max(total, 1), text=text)

        try:
            st.session_state[FACES_RESULT] = labelled_faces.evaluate(upload.getvalue(), models[model_name], mirror,
                                                                      advance)
            bar.progress(1.0, text="Done")
        except labelled_faces.LabelledFacesError as exc:
            bar.empty()
            # The last good result (if any) stays on the page: a bad archive loses nothing.
            st.error(f"No evaluation: {ui.plain(exc)}", icon=":material/error:")

    result: labelled_faces.FacesEvaluation | None = st.session_state.get(FACES_RESULT)
    if result is not None:
        st.markdown(f"**{result.model_name} on your faces**" + (" (each face with its mirror image)" if result.tta else ""))
        for note in result.notes:
            st.warning(ui.plain(note), icon=":material/warning:")
        show_evaluation(result.accuracy, result.top2, result.n, result.per_class, result.confusion, "faces_confusion")
        if result.misread:
            shown = result.misread[:MAX_FACES]
            st.markdown("**Read wrongly**")
            st.caption(f"{len(shown)} of the {len(result.misread):,} faces the model read wrongly, as it saw them: true "
                       "label, then what it read. They are not stored.")
            st.markdown(face_grid_html([f.image for f in shown], [f"{f.true} read as {f.pred}" for f in shown]),
                        unsafe_allow_html=True)
            st.download_button("Download the misread faces (zip)", labelled_faces.misread_zip(result),
                               file_name="misread-faces.zip", mime="application/zip", key="faces_download",
                               icon=":material/download:")
        name_col, store_col = st.columns([3, 1], vertical_alignment="bottom")
        name = name_col.text_input("Name of this evaluation", max_chars=labelled_faces.NAME_MAX, key="faces_name",
                                   placeholder="Year 7 photos")
        if store_col.button("Store", key="faces_store", icon=":material/save:"):
            try:
                stored = labelled_faces.store(factory, result, name)
            except labelled_faces.LabelledFacesError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.session_state.pop(FACES_RESULT, None)
                st.session_state[FACES_STORED] = stored
                st.rerun()  # the stored evaluations above are read again, this one among them

# -- what teachers said about the alerts (dashboard/alert_feedback.py) --
alert_feedback.admin_section(factory)
