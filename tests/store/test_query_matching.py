"""The SQL the index runs agrees with the reference matching rule, for any input.

Values and query keys are drawn from characters that trouble SQL (quotes, %,
_, [, backslash) and case folding, so this is also the injection test.
"""

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_pacs.core.matching import fold, matches, parse_match
from tui_pacs.core.model import Level
from tui_pacs.store import queries
from tui_pacs.store.schema import MIGRATIONS

ALPHABET = "aAbB*?%_['\\ äÄß-0129.^="
text = st.text(alphabet=ALPHABET, max_size=6)
date = st.one_of(st.just(""), st.dates().map(lambda d: d.strftime("%Y%m%d")))
modalities = st.lists(st.sampled_from(["CT", "MR", "SR", "C%", "C_"]), max_size=3,
                      unique=True).map(lambda v: "\\".join(sorted(v)))
uid = st.sampled_from(["1.2", "1.2.3", "1.22", "9"])

# The index holds values as ingest leaves them: without surrounding spaces.
stored_text = text.map(str.strip)
study = st.fixed_dictionaries({
    "PatientName": stored_text, "StudyDescription": stored_text, "StudyDate": date,
    "ModalitiesInStudy": modalities, "StudyInstanceUID": uid,
})
date_query = st.one_of(
    date,
    st.tuples(date, date).map(lambda p: f"{p[0]}-{p[1]}"),
)
query = st.one_of(
    st.tuples(st.just("PatientName"), text),
    st.tuples(st.just("StudyDescription"), text),
    st.tuples(st.just("StudyDate"), date_query),
    st.tuples(st.just("ModalitiesInStudy"), st.one_of(
        st.sampled_from(["CT", "MR", "C%", "C_", "CT\\MR", "C*", "*"]), text)),
    st.tuples(st.just("StudyInstanceUID"), st.sampled_from(
        ["1.2", "1.2\\9", "1.2*", "1.2%", "1.2' OR '1'='1", ""])),
)
VR = {"PatientName": "PN", "StudyDescription": "LO", "StudyDate": "DA",
      "ModalitiesInStudy": "CS", "StudyInstanceUID": "UI"}


def database(rows):
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        conn.executescript(migration)
    for number, row in enumerate(rows, start=1):
        conn.execute("INSERT INTO patients (id, patient_id, patient_name, patient_name_fold) "
                     "VALUES (?, ?, ?, ?)", (number, str(number), row["PatientName"],
                                             fold(row["PatientName"])))
        conn.execute("INSERT INTO studies (id, patient_ref, study_uid, study_date, description, "
                     "modalities) VALUES (?, ?, ?, ?, ?, ?)",
                     (number, number, f"{row['StudyInstanceUID']}#{number}", row["StudyDate"],
                      row["StudyDescription"], row["ModalitiesInStudy"]))
    return conn


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(study, max_size=8), keys=st.lists(query, min_size=1, max_size=3))
def test_sql_matches_like_the_reference(rows, keys):
    conn = database(rows)
    matchers = {keyword: parse_match(value, VR[keyword]) for keyword, value in keys}
    # Study UIDs were made unique with a "#n" suffix; match UIDs on the prefix.
    if "StudyInstanceUID" in matchers:
        matchers.pop("StudyInstanceUID")
    sql, params, keywords = queries.select_sql(Level.STUDY, matchers)
    found = {row[keywords.index("PatientID")] for row in conn.execute(sql, params)}
    expected = {
        str(number) for number, row in enumerate(rows, start=1)
        if all(matches(m, row[k], VR[k]) for k, m in matchers.items())
    }
    assert found == expected
    # Nothing a query key holds ever changes the database.
    assert conn.execute("SELECT count(*) FROM studies").fetchone()[0] == len(rows)


@given(value=st.sampled_from(["1.2", "1.2\\9", "9\\1.22", "1.2' OR '1'='1", "1.2%"]))
def test_uid_lists_match_exactly(value):
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS:
        conn.executescript(migration)
    for number, study_uid in enumerate(["1.2", "1.22", "9", "1.2.3"], start=1):
        conn.execute("INSERT INTO patients (id, patient_id) VALUES (?, ?)", (number, str(number)))
        conn.execute("INSERT INTO studies (id, patient_ref, study_uid) VALUES (?, ?, ?)",
                     (number, number, study_uid))
    matcher = parse_match(value, "UI")
    sql, params, keywords = queries.select_sql(Level.STUDY, {"StudyInstanceUID": matcher})
    found = {row[keywords.index("StudyInstanceUID")] for row in conn.execute(sql, params)}
    assert found == {u for u in ["1.2", "1.22", "9", "1.2.3"] if matches(matcher, u, "UI")}
